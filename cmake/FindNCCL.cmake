# FindNCCL: locates NCCL (header and libnccl).
#
# Looks in NCCL_ROOT / $ENV{NCCL_ROOT}, then next to the CUDA Toolkit (CUDAToolkit_LIBRARY_DIR
# and its include directory, which is where the NVIDIA packages and /usr/local/cuda put it), then
# the system paths (Debian's libnccl-dev).
#
# Defines: NCCL_FOUND, NCCL_INCLUDE_DIR, NCCL_LIBRARY, NCCL_VERSION and the imported target
# NCCL::nccl.
include(FindPackageHandleStandardArgs)
include(${CMAKE_CURRENT_LIST_DIR}/TspipeFindHelpers.cmake)

tspipe_cuda_library_hints(_nccl_hints NCCL)
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} PATH_SUFFIXES include include/x86_64-linux-gnu)
find_library(NCCL_LIBRARY nccl HINTS ${_nccl_hints} PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)

if(NCCL_INCLUDE_DIR)
  tspipe_header_version(NCCL_VERSION PREFIX NCCL_ PARTS MAJOR MINOR PATCH HEADERS ${NCCL_INCLUDE_DIR}/nccl.h)
endif()

find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND AND NOT TARGET NCCL::nccl)
  add_library(NCCL::nccl UNKNOWN IMPORTED)
  set_target_properties(NCCL::nccl PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
