// The communicator plan of NcclMpiTransport (nccl_mpi_layout.hpp), checked without a GPU: for
// every pipeline shape, each directed link between neighbouring stages of each replica comes out
// of exactly one split as a two-rank communicator with the sender at rank 0, and no rank is on
// two links of one split.
#include <tspipe/cuda/nccl_mpi_layout.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

using tspipe::cuda::nccl::link_splits;
using tspipe::cuda::nccl::LinkSplit;
using tspipe::distributed::mpi::RankLayout;

TEST_CASE("every directed neighbour link gets one two-rank communicator, sender first") {
  for (int stages = 1; stages <= 5; ++stages)
    for (int replicas = 1; replicas <= 3; ++replicas) {
      CAPTURE(stages);
      CAPTURE(replicas);
      const int world = stages * replicas;
      std::vector<std::vector<LinkSplit>> plans;
      for (int rank = 0; rank < world; ++rank) plans.push_back(link_splits(RankLayout::make(world, rank, stages).value()));
      const std::size_t splits = plans.front().size();
      CHECK(splits == static_cast<std::size_t>(stages == 1 ? 0 : stages == 2 ? 2 : 4));
      std::set<std::tuple<int, int, int>> links;  // (replica, from stage, to stage)
      for (std::size_t k = 0; k < splits; ++k) {
        std::map<int, std::vector<int>> members;  // colour → ranks
        for (int rank = 0; rank < world; ++rank) {
          REQUIRE(plans[static_cast<std::size_t>(rank)].size() == splits);  // the same collective calls everywhere
          const LinkSplit& s = plans[static_cast<std::size_t>(rank)][k];
          if (s.color == LinkSplit::kNoColor) {
            CHECK(s.send_to == -1);
            CHECK(s.receive_from == -1);
            continue;
          }
          members[s.color].push_back(rank);
        }
        for (const auto& [color, ranks] : members) {
          CAPTURE(color);
          REQUIRE(ranks.size() == 2);
          const RankLayout a = RankLayout::make(world, ranks[0], stages).value(), b = RankLayout::make(world, ranks[1], stages).value();
          CHECK(a.replica() == b.replica());
          CHECK(std::abs(a.stage() - b.stage()) == 1);
          const LinkSplit& sa = plans[static_cast<std::size_t>(ranks[0])][k];
          const LinkSplit& sb = plans[static_cast<std::size_t>(ranks[1])][k];
          const bool a_sends = sa.key == 0;
          CHECK(sa.key + sb.key == 1);
          const RankLayout& sender = a_sends ? a : b;
          const RankLayout& receiver = a_sends ? b : a;
          const LinkSplit& ss = a_sends ? sa : sb;
          const LinkSplit& sr = a_sends ? sb : sa;
          CHECK(ss.send_to == receiver.stage());
          CHECK(ss.receive_from == -1);
          CHECK(sr.receive_from == sender.stage());
          CHECK(sr.send_to == -1);
          CHECK(links.insert({sender.replica(), sender.stage(), receiver.stage()}).second);  // each link once
        }
      }
      CHECK(links.size() == static_cast<std::size_t>(replicas * 2 * (stages - 1)));  // every neighbour pair, both ways
    }
}
