# Finds libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev) and defines TurboJPEG::TurboJPEG.
#
# Tries, in order: libjpeg-turbo's own CMake package (libjpeg-turbo::turbojpeg, shipped by
# libjpeg-turbo >= 2.1 and by Debian's libturbojpeg0-dev), pkg-config's `libturbojpeg`, and a plain
# search for turbojpeg.h and the turbojpeg library. Sets TurboJPEG_FOUND and TurboJPEG_VERSION
# (when known).
if(TARGET TurboJPEG::TurboJPEG)
  set(TurboJPEG_FOUND TRUE)
  return()
endif()

find_package(libjpeg-turbo CONFIG QUIET)
if(TARGET libjpeg-turbo::turbojpeg)
  add_library(TurboJPEG::TurboJPEG INTERFACE IMPORTED)
  set_target_properties(TurboJPEG::TurboJPEG PROPERTIES INTERFACE_LINK_LIBRARIES libjpeg-turbo::turbojpeg)
  set(TurboJPEG_VERSION ${libjpeg-turbo_VERSION})
  set(TurboJPEG_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_TurboJPEG QUIET libturbojpeg)
endif()
find_path(TurboJPEG_INCLUDE_DIR turbojpeg.h HINTS ${PC_TurboJPEG_INCLUDE_DIRS})
find_library(TurboJPEG_LIBRARY NAMES turbojpeg HINTS ${PC_TurboJPEG_LIBRARY_DIRS})
set(TurboJPEG_VERSION ${PC_TurboJPEG_VERSION})

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TurboJPEG
  REQUIRED_VARS TurboJPEG_LIBRARY TurboJPEG_INCLUDE_DIR
  VERSION_VAR TurboJPEG_VERSION
  REASON_FAILURE_MESSAGE "install Debian's libturbojpeg0-dev (scripts/install-deps.sh does)")
if(TurboJPEG_FOUND)
  add_library(TurboJPEG::TurboJPEG UNKNOWN IMPORTED)
  set_target_properties(TurboJPEG::TurboJPEG PROPERTIES
    IMPORTED_LOCATION "${TurboJPEG_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TurboJPEG_INCLUDE_DIR}")
endif()
mark_as_advanced(TurboJPEG_INCLUDE_DIR TurboJPEG_LIBRARY)
