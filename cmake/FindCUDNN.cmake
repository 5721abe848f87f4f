# FindCUDNN: locates cuDNN (headers and the libcudnn dispatcher library), in CUDNN_ROOT, next to the
# CUDA Toolkit or in the system paths (Debian's libcudnn9-dev); see tspipe_find_cuda_library.
#
# Defines: CUDNN_FOUND, CUDNN_INCLUDE_DIR, CUDNN_LIBRARY, CUDNN_VERSION and the imported target
# CUDNN::cudnn.
include(${CMAKE_CURRENT_LIST_DIR}/TspipeFindHelpers.cmake)

# cuDNN 8 and later keep the version in cudnn_version.h, older releases in cudnn.h.
tspipe_find_cuda_library(CUDNN HEADER cudnn.h LIBRARY cudnn TARGET CUDNN::cudnn VERSION_PREFIX CUDNN_
                         VERSION_PARTS MAJOR MINOR PATCHLEVEL VERSION_HEADERS cudnn_version.h cudnn.h)
