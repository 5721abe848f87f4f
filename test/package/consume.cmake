# Installs this build tree into a scratch prefix, then builds and runs separate projects that use
# it through find_package(tspipe): with CUDA hidden (no nvcc on PATH, /usr/local/cuda and
# $CUDA_HOME/$CUDA_PATH ignored), a simulator-only program on the core and the quickstart on
# COMPONENTS cpu — even when this build has the CUDA backend; and, when it has, a program on
# COMPONENTS cuda with CUDA visible.
file(REMOVE_RECURSE ${SCRATCH})
file(MAKE_DIRECTORY ${SCRATCH})
set(prefix ${SCRATCH}/prefix)
function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err
                  WORKING_DIRECTORY ${SCRATCH})
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "${step} failed (${code}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
run(install ${CMAKE_COMMAND} --install ${TSPIPE_BUILD_DIR} --prefix ${prefix})

set(hidden_cuda /usr/local/bin)
file(GLOB toolkits LIST_DIRECTORIES true /usr/local/cuda /usr/local/cuda-*)  # FindCUDAToolkit looks at both
foreach(toolkit IN LISTS toolkits)
  list(APPEND hidden_cuda ${toolkit} ${toolkit}/bin)
endforeach()
if(DEFINED ENV{CUDA_HOME})
  list(APPEND hidden_cuda $ENV{CUDA_HOME} $ENV{CUDA_HOME}/bin)
endif()
if(DEFINED ENV{CUDA_PATH})
  list(APPEND hidden_cuda $ENV{CUDA_PATH} $ENV{CUDA_PATH}/bin)
endif()
string(REPLACE ";" "\\;" hidden_cuda_arg "${hidden_cuda}")
run(configure-cpu-only ${CMAKE_COMMAND} -E env --unset=CUDA_HOME --unset=CUDA_PATH --unset=CUDACXX PATH=/usr/bin:/bin
    ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${SCRATCH}/cpu-only -DCONSUMER_MODE=cpu-only
    -DQUICKSTART_SOURCE=${QUICKSTART_SOURCE}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_IGNORE_PREFIX_PATH=${hidden_cuda_arg}" "-DCMAKE_IGNORE_PATH=${hidden_cuda_arg}")
run(build-cpu-only ${CMAKE_COMMAND} --build ${SCRATCH}/cpu-only)
run(consumer ${SCRATCH}/cpu-only/consumer)
message(STATUS "${last_output}")
if(NOT last_output MATCHES "utilisation 1")
  message(FATAL_ERROR "the simulator-only consumer printed the wrong result: ${last_output}")
endif()
run(quickstart ${SCRATCH}/cpu-only/quickstart)
message(STATUS "${last_output}")

if(EXISTS ${prefix}/lib/cmake/tspipe/tspipe_cudaTargets.cmake)
  run(configure-cuda ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${SCRATCH}/cuda -DCONSUMER_MODE=cuda
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
  run(build-cuda ${CMAKE_COMMAND} --build ${SCRATCH}/cuda)
  run(consumer_cuda ${SCRATCH}/cuda/consumer_cuda)
  message(STATUS "${last_output}")
  if(NOT last_output MATCHES "tspipe::cuda: (no CUDA device|[0-9]+ CUDA device)")
    message(FATAL_ERROR "the CUDA consumer printed the wrong result: ${last_output}")
  endif()
endif()
