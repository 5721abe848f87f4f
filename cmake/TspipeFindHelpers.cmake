# What FindCUDNN and FindNCCL share, written once: looking for a library that ships with (or
# beside) the CUDA Toolkit, reading its version from its header, and the imported target. Installed
# beside them.

# tspipe_header_version(<out-var> PREFIX <prefix> PARTS <part>... HEADERS <file>...)
# "<major>.<minor>.<patch>" from `#define <prefix><part> <number>` in the first of HEADERS that
# exists (e.g. PREFIX CUDNN_ PARTS MAJOR MINOR PATCHLEVEL); <out-var> is left unset when that
# header has no major number.
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

# tspipe_find_cuda_library(<Package> HEADER <file> LIBRARY <name> TARGET <imported-target>
#                          VERSION_PREFIX <prefix> VERSION_PARTS <part>... VERSION_HEADERS <file>...)
# Looks in <Package>_ROOT, $ENV{<Package>_ROOT} and $ENV{<Package>_HOME}, then next to the CUDA
# Toolkit (CUDAToolkit_LIBRARY_DIR and its include directory, which is where the NVIDIA packages
# and /usr/local/cuda put cuDNN and NCCL), then the system paths. Defines <Package>_FOUND,
# <Package>_INCLUDE_DIR, <Package>_LIBRARY, <Package>_VERSION and the imported target.
# VERSION_HEADERS are file names inside <Package>_INCLUDE_DIR, the first that exists is read.
# A macro, so that find_package_handle_standard_args reports to the find module's caller.
macro(tspipe_find_cuda_library package)
  cmake_parse_arguments(_tspipe_find "" "HEADER;LIBRARY;TARGET;VERSION_PREFIX" "VERSION_PARTS;VERSION_HEADERS"
                        ${ARGN})
  set(_tspipe_find_hints ${${package}_ROOT} $ENV{${package}_ROOT} $ENV{${package}_HOME})
  if(CUDAToolkit_LIBRARY_DIR)
    list(APPEND _tspipe_find_hints ${CUDAToolkit_LIBRARY_DIR}/..)
  endif()
  if(CUDAToolkit_INCLUDE_DIRS)
    list(GET CUDAToolkit_INCLUDE_DIRS 0 _tspipe_find_cuda_include)
    list(APPEND _tspipe_find_hints ${_tspipe_find_cuda_include}/..)
  endif()
  find_path(${package}_INCLUDE_DIR ${_tspipe_find_HEADER} HINTS ${_tspipe_find_hints}
            PATH_SUFFIXES include include/x86_64-linux-gnu)
  find_library(${package}_LIBRARY ${_tspipe_find_LIBRARY} HINTS ${_tspipe_find_hints}
               PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)
  if(${package}_INCLUDE_DIR)
    list(TRANSFORM _tspipe_find_VERSION_HEADERS PREPEND ${${package}_INCLUDE_DIR}/)
    tspipe_header_version(${package}_VERSION PREFIX ${_tspipe_find_VERSION_PREFIX} PARTS ${_tspipe_find_VERSION_PARTS}
                          HEADERS ${_tspipe_find_VERSION_HEADERS})
  endif()
  include(FindPackageHandleStandardArgs)
  find_package_handle_standard_args(${package} REQUIRED_VARS ${package}_LIBRARY ${package}_INCLUDE_DIR
                                    VERSION_VAR ${package}_VERSION)
  if(${package}_FOUND AND NOT TARGET ${_tspipe_find_TARGET})
    add_library(${_tspipe_find_TARGET} UNKNOWN IMPORTED)
    set_target_properties(${_tspipe_find_TARGET} PROPERTIES IMPORTED_LOCATION "${${package}_LIBRARY}"
                                                            INTERFACE_INCLUDE_DIRECTORIES "${${package}_INCLUDE_DIR}")
  endif()
  mark_as_advanced(${package}_INCLUDE_DIR ${package}_LIBRARY)
endmacro()
