# Code shared by the examples (flags, launch, training loop, run state, reports, linear probe).
# Included by each example's CMakeLists.txt; the first one defines the target.
if(NOT TARGET tspipe_examples_common)
  add_library(tspipe_examples_common STATIC
    ${CMAKE_CURRENT_LIST_DIR}/cli.cpp
    ${CMAKE_CURRENT_LIST_DIR}/datasets.cpp
    ${CMAKE_CURRENT_LIST_DIR}/evaluation.cpp
    ${CMAKE_CURRENT_LIST_DIR}/launch.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_size.cpp
    ${CMAKE_CURRENT_LIST_DIR}/report.cpp
    ${CMAKE_CURRENT_LIST_DIR}/run_state.cpp
    ${CMAKE_CURRENT_LIST_DIR}/training.cpp)
  target_include_directories(tspipe_examples_common PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(tspipe_examples_common PUBLIC tspipe::cpu tspipe::nn tspipe::data)
  if(TARGET tspipe_cuda)  # --backend cuda (and auto on a GPU machine)
    target_link_libraries(tspipe_examples_common PUBLIC tspipe::cuda)
    target_compile_definitions(tspipe_examples_common PUBLIC TSPIPE_EXAMPLES_CUDA=1)
  endif()
  # mpirun -np N … --stages S: only where MPI was found; without it a single-process build that
  # refuses to run as several ranks.
  if(TARGET tspipe_mpi)
    target_link_libraries(tspipe_examples_common PRIVATE tspipe::mpi)
    target_compile_definitions(tspipe_examples_common PUBLIC TSPIPE_EXAMPLES_MPI=1)
  endif()
  tspipe_warnings(tspipe_examples_common)
endif()
