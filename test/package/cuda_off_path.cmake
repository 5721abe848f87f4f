# Configures the project as on a GPU machine whose CUDA Toolkit sits in /usr/local/cuda with its
# bin/ off PATH (NVIDIA's installers leave it so) and checks the one summary line: the CUDA backend
# is built with /usr/local/cuda/bin/nvcc. Then hides that folder too and checks the line says why
# CUDA is not built. Exit 77 (skipped) where /usr/local/cuda/bin/nvcc does not exist.
# Run: cmake -DSOURCE_DIR=<repo> -DSCRATCH=<folder> -P cuda_off_path.cmake
if(NOT EXISTS /usr/local/cuda/bin/nvcc)
  message("SKIP: no CUDA Toolkit in /usr/local/cuda")
  cmake_language(EXIT 77)
endif()
# Every other place nvcc may be found from: PATH, the toolkit variables, wrappers in /usr/local/bin.
set(ignored /usr/local/bin /usr/local/sbin)
file(GLOB versioned LIST_DIRECTORIES true /usr/local/cuda-*)
foreach(dir IN LISTS versioned)
  list(APPEND ignored ${dir} ${dir}/bin)
endforeach()

function(configure_and_read_summary folder extra_ignored out)
  file(REMOVE_RECURSE ${folder})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env --unset=CUDA_HOME --unset=CUDA_PATH --unset=CUDACXX PATH=/usr/bin:/bin
            ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${folder} -G Ninja "-DCMAKE_IGNORE_PATH=${ignored};${extra_ignored}"
            -DTSPIPE_BUILD_TESTS=OFF -DTSPIPE_BUILD_BENCH=OFF -DTSPIPE_BUILD_EXAMPLES=OFF
    OUTPUT_VARIABLE output ERROR_VARIABLE errors RESULT_VARIABLE code)
  file(REMOVE_RECURSE ${folder})
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "configure failed (${code}):\n${output}\n${errors}")
  endif()
  # The summary holds a ';' ("cpu built; cuda …"), so it is counted and read as a string, not a list.
  string(REGEX MATCHALL "tspipe backends:" heads "${output}")
  list(LENGTH heads count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "expected one 'tspipe backends:' line, got ${count}:\n${output}")
  endif()
  string(REGEX MATCH "tspipe backends:[^\n]*" line "${output}")
  message(STATUS "${line}")
  set(${out} "${line}" PARENT_SCOPE)
endfunction()

configure_and_read_summary(${SCRATCH}/off_path "" found)
if(NOT found MATCHES "cuda built with /usr/local/cuda/bin/nvcc")
  message(FATAL_ERROR "nvcc off PATH in /usr/local/cuda/bin was not used: ${found}")
endif()
configure_and_read_summary(${SCRATCH}/hidden "/usr/local/cuda;/usr/local/cuda/bin" missing)
if(NOT missing MATCHES "cuda not built: no CUDA compiler: nvcc is not on PATH")
  message(FATAL_ERROR "with every nvcc hidden the summary does not say why CUDA is not built: ${missing}")
endif()
