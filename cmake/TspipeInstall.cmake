# Installs the headers and exports one target set per component, so that a consumer asks for what
# it uses and needs only that part's dependencies:
#   find_package(tspipe REQUIRED)                    # tspipe::tspipe: schedule, simulator, planning
#   find_package(tspipe REQUIRED COMPONENTS cpu)     # + tspipe::cpu (and tspipe::nn, tspipe::data)
#   find_package(tspipe REQUIRED COMPONENTS mpi)     # + tspipe::mpi
#   find_package(tspipe REQUIRED COMPONENTS cuda)    # + tspipe::cuda (CUDA Toolkit, cuDNN, NCCL)
# Without COMPONENTS, every installed component whose dependencies are found is loaded, quietly.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY include/tspipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_tspipe_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tspipe)

# tspipe (the core) first; then each component built in this tree, by export name.
install(TARGETS tspipe EXPORT tspipeTargets)
install(EXPORT tspipeTargets NAMESPACE tspipe:: DESTINATION ${_tspipe_cmake_dir})
set(TSPIPE_INSTALLED_COMPONENTS "")
foreach(component nn data cpu mpi cuda cuda_mpi)
  if(TARGET tspipe_${component})
    list(APPEND TSPIPE_INSTALLED_COMPONENTS ${component})
    install(TARGETS tspipe_${component} EXPORT tspipe_${component}Targets
      ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
      LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
      INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
    install(EXPORT tspipe_${component}Targets NAMESPACE tspipe:: DESTINATION ${_tspipe_cmake_dir})
  endif()
endforeach()
# The data component finds TurboJPEG with the find module installed beside the package config.
if(TARGET tspipe_data)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/FindTurboJPEG.cmake DESTINATION ${_tspipe_cmake_dir})
endif()
# The cuda component finds cuDNN and NCCL in the consumer with the find modules installed beside it.
if(TARGET tspipe_cuda)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/FindCUDNN.cmake ${CMAKE_CURRENT_LIST_DIR}/FindNCCL.cmake
                ${CMAKE_CURRENT_LIST_DIR}/TspipeFindHelpers.cmake
          DESTINATION ${_tspipe_cmake_dir})
endif()

configure_package_config_file(cmake/tspipeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tspipeConfig.cmake
  INSTALL_DESTINATION ${_tspipe_cmake_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tspipeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tspipeConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/tspipeConfigVersion.cmake
        DESTINATION ${_tspipe_cmake_dir})
