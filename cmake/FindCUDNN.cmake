# FindCUDNN: locates cuDNN (headers and the libcudnn dispatcher library).
#
# Looks in CUDNN_ROOT / $ENV{CUDNN_ROOT}, then next to the CUDA Toolkit (CUDAToolkit_LIBRARY_DIR
# and its include directory, which is where the NVIDIA packages and /usr/local/cuda put it), then
# the system paths (Debian's libcudnn9-dev).
#
# Defines: CUDNN_FOUND, CUDNN_INCLUDE_DIR, CUDNN_LIBRARY, CUDNN_VERSION and the imported target
# CUDNN::cudnn.
include(FindPackageHandleStandardArgs)
include(${CMAKE_CURRENT_LIST_DIR}/TspipeFindHelpers.cmake)

tspipe_cuda_library_hints(_cudnn_hints CUDNN)
find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} PATH_SUFFIXES include include/x86_64-linux-gnu)
find_library(CUDNN_LIBRARY cudnn HINTS ${_cudnn_hints} PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)

if(CUDNN_INCLUDE_DIR)
  # cuDNN 8 and later keep the version in cudnn_version.h; older releases in cudnn.h.
  tspipe_header_version(CUDNN_VERSION PREFIX CUDNN_ PARTS MAJOR MINOR PATCHLEVEL
                        HEADERS ${CUDNN_INCLUDE_DIR}/cudnn_version.h ${CUDNN_INCLUDE_DIR}/cudnn.h)
endif()

find_package_handle_standard_args(CUDNN REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
  add_library(CUDNN::cudnn UNKNOWN IMPORTED)
  set_target_properties(CUDNN::cudnn PROPERTIES IMPORTED_LOCATION "${CUDNN_LIBRARY}"
                                                INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
