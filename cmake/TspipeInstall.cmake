# Installs the headers and exports tspipe::tspipe (and tspipe::cpu, tspipe::mpi, tspipe::cuda,
# tspipe::cuda_mpi when built) so that
#   find_package(tspipe REQUIRED)
#   target_link_libraries(app PRIVATE tspipe::tspipe)
# works from any CMake project after `cmake --install`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY include/tspipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_tspipe_export_targets tspipe tspipe_data tspipe_nn)
foreach(optional tspipe_cpu tspipe_mpi tspipe_cuda tspipe_cuda_mpi)
  if(TARGET ${optional})
    list(APPEND _tspipe_export_targets ${optional})
  endif()
endforeach()
if(TARGET tspipe_mpi)
  set(TSPIPE_EXPORTS_MPI ON)
else()
  set(TSPIPE_EXPORTS_MPI OFF)
endif()
# tspipe::cuda links the CUDA Toolkit, cuDNN and NCCL targets: the package config finds them again
# in the consumer, cuDNN and NCCL with the find modules installed beside it.
if(TARGET tspipe_cuda)
  set(TSPIPE_EXPORTS_CUDA ON)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/FindCUDNN.cmake ${CMAKE_CURRENT_LIST_DIR}/FindNCCL.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tspipe)
else()
  set(TSPIPE_EXPORTS_CUDA OFF)
endif()
install(TARGETS ${_tspipe_export_targets} EXPORT tspipeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tspipeTargets NAMESPACE tspipe:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tspipe)

configure_package_config_file(cmake/tspipeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tspipeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tspipe)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tspipeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tspipeConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/tspipeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tspipe)
