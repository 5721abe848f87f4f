# What FindCUDNN and FindNCCL share: where to look for a library that ships with (or beside) the
# CUDA Toolkit, and reading its version from the #defines of its header. Installed beside them.

# tspipe_cuda_library_hints(<out-var> <package>)
# <package>_ROOT, $ENV{<package>_ROOT} and $ENV{<package>_HOME}, then the CUDA Toolkit's prefix as
# seen from CUDAToolkit_LIBRARY_DIR and from its include directory (where the NVIDIA packages and
# /usr/local/cuda put cuDNN and NCCL); the system paths come after these in find_path/find_library.
function(tspipe_cuda_library_hints out package)
  set(hints ${${package}_ROOT} $ENV{${package}_ROOT} $ENV{${package}_HOME})
  if(CUDAToolkit_LIBRARY_DIR)
    list(APPEND hints ${CUDAToolkit_LIBRARY_DIR}/..)
  endif()
  if(CUDAToolkit_INCLUDE_DIRS)
    list(GET CUDAToolkit_INCLUDE_DIRS 0 cuda_include)
    list(APPEND hints ${cuda_include}/..)
  endif()
  set(${out} ${hints} PARENT_SCOPE)
endfunction()

# tspipe_header_version(<out-var> PREFIX <prefix> PARTS <part>... HEADERS <file>...)
# "<major>.<minor>.<patch>" from `#define <prefix><part> <number>` in the first of HEADERS that
# exists (e.g. PREFIX CUDNN_ PARTS MAJOR MINOR PATCHLEVEL); <out-var> is left unset when the header
# has no major number.
function(tspipe_header_version out)
  cmake_parse_arguments(V "" "PREFIX" "PARTS;HEADERS" ${ARGN})
  foreach(header ${V_HEADERS})
    if(EXISTS ${header})
      string(JOIN "|" alternatives ${V_PARTS})
      file(STRINGS ${header} defines REGEX "#define ${V_PREFIX}(${alternatives}) +[0-9]+")
      set(numbers "")
      foreach(part ${V_PARTS})
        string(REGEX MATCH "${V_PREFIX}${part} +([0-9]+)" match "${defines}")
        list(APPEND numbers "${CMAKE_MATCH_1}")
      endforeach()
      list(GET numbers 0 major)
      if(major)
        string(JOIN "." version ${numbers})
        set(${out} ${version} PARENT_SCOPE)
      endif()
      return()
    endif()
  endforeach()
endfunction()
