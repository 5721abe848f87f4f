#pragma once
// tspipe over several processes and machines, launched by mpirun: one rank per stage of each of
// R pipeline replicas (rank = replica · S + stage; see RankLayout). Link tspipe::mpi.
//
//   namespace mpi = tspipe::distributed::mpi;
//   auto session = mpi::MpiSession::start(/*stages=*/2);          // MPI_Init
//   if (!session) { std::cerr << session.message() << "\n"; return 1; }
//   auto& s = *session.value();
//   auto pipeline = mpi::make_pipeline<Backend>(s, options, [&](const auto& o) {
//     return std::make_unique<tspipe::Pipeline<Backend>>(teacher(), student(), loss, optimizer, o);
//   });                                     // same partition and schedule on every rank
//   for (...) pipeline.value()->feed(this_replicas_shard_of_the_batch, labels);
//   if (s.layout().logs()) print(pipeline.value()->take_losses());
//   mpi::save_checkpoint(s, *pipeline.value(), path);               // rank 0 writes the file
//
// What it adds to a Pipeline (through its Distribution hooks):
//   * MpiTransport (mpi_transport.hpp): activations and gradients between the ranks of a replica
//     (host tensors; a device backend brings its own transport, CUDA: cuda::NcclMpiTransport);
//   * with R > 1 replicas (replica_average.hpp): each stage's student gradients and BatchNorm
//     running statistics are averaged over the replicas right before OPT; each replica feeds its
//     own shard of the batch;
//   * GatheredLoss (gathered_loss.hpp): for losses that need the whole batch (InfoNCE's
//     negatives), the last stages all-gather the embeddings of every replica;
//   * checkpoints (checkpoint_gather.hpp): every rank's stages are gathered to rank 0, which
//     writes one file;
//   * failures: a rank whose pipeline fails prints what failed (naming the rank it waited on when
//     its watchdog fires) and ends the job; a rank terminated by mpirun because a peer died says
//     which rank it was waiting on (termination_handler.hpp). Nothing waits forever.
#include <tspipe/distributed/checkpoint_gather.hpp>
#include <tspipe/distributed/collectives.hpp>
#include <tspipe/distributed/gathered_loss.hpp>
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/distributed/mpi_transport.hpp>
#include <tspipe/distributed/pipeline_factory.hpp>
#include <tspipe/distributed/rank_layout.hpp>
#include <tspipe/distributed/replica_average.hpp>
