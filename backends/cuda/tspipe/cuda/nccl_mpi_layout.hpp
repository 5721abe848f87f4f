#pragma once
// Which NCCL communicators NcclMpiTransport cuts out of the job-wide one, as plain data (no CUDA,
// no NCCL), so that the plan is tested on machines without a GPU.
//
// Every directed link between neighbouring stages of one replica gets its own two-rank
// communicator, its sender at NCCL rank 0 (see nccl_link.hpp for why links are one-way). A rank
// sits on up to four links (to and from each neighbour), but one ncclCommSplit gives a rank one
// new communicator, so the links come from up to four splits: forward links s → s+1 from even s,
// from odd s, then backward links s+1 → s from even s, from odd s. Within one split no rank is on
// two links. Splits are collective: every rank makes the same ones in the same order, taking part
// with "no colour" where it is on no link.
#include <tspipe/distributed/rank_layout.hpp>

#include <vector>

namespace tspipe::cuda::nccl {

/// One ncclCommSplit of the job-wide communicator, as seen by one rank.
struct LinkSplit {
  static constexpr int kNoColor = -1;  ///< NCCL_SPLIT_NOCOLOR: on no link of this split
  int color = kNoColor;                ///< one colour per link (replica · S + lower stage)
  int key = 0;                         ///< 0 for the sender, 1 for the receiver
  int send_to = -1;                    ///< the stage this rank sends to on the link, or −1
  int receive_from = -1;               ///< the stage this rank receives from on the link, or −1
};

/// The link splits every rank makes, in order, with `layout.rank`'s part in each.
inline std::vector<LinkSplit> link_splits(const distributed::mpi::RankLayout& layout) {
  const int S = layout.stages, t = layout.stage();
  std::vector<LinkSplit> splits;
  for (const bool forward : {true, false})
    for (int parity = 0; parity < 2; ++parity) {
      if (parity >= S - 1) continue;  // no link s → s+1 (or back) with s of this parity
      LinkSplit split;
      // The link's lower stage: this rank's own stage or the one below it (never both: they
      // differ in parity).
      int lower = -1;
      if (t % 2 == parity && t + 1 < S) lower = t;
      else if (t >= 1 && (t - 1) % 2 == parity) lower = t - 1;
      if (lower >= 0) {
        const int sender = forward ? lower : lower + 1, receiver = forward ? lower + 1 : lower;
        split.color = layout.replica() * S + lower;
        split.key = t == sender ? 0 : 1;
        if (t == sender) split.send_to = receiver;
        else split.receive_from = sender;
      }
      splits.push_back(split);
    }
  return splits;
}

}  // namespace tspipe::cuda::nccl
