# FindNCCL: locates NCCL (header and libnccl), in NCCL_ROOT, next to the CUDA Toolkit or in the
# system paths (Debian's libnccl-dev); see tspipe_find_cuda_library.
#
# Defines: NCCL_FOUND, NCCL_INCLUDE_DIR, NCCL_LIBRARY, NCCL_VERSION and the imported target
# NCCL::nccl.
include(${CMAKE_CURRENT_LIST_DIR}/TspipeFindHelpers.cmake)

tspipe_find_cuda_library(NCCL HEADER nccl.h LIBRARY nccl TARGET NCCL::nccl VERSION_PREFIX NCCL_
                         VERSION_PARTS MAJOR MINOR PATCH VERSION_HEADERS nccl.h)
