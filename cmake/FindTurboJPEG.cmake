# Finds libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev) and defines TurboJPEG::TurboJPEG.
#
# Searches through pkg-config's `libturbojpeg`, then for turbojpeg.h and the turbojpeg library.
# libjpeg-turbo's own CMake package is deliberately not asked: the one Debian 12's
# libturbojpeg0-dev ships imports the libjpeg target too, and stops the configure with a hard error
# when libjpeg62-turbo (which libturbojpeg0-dev does not pull in) is absent, as on a fresh machine.
# Sets TurboJPEG_FOUND and TurboJPEG_VERSION (when known).
if(TARGET TurboJPEG::TurboJPEG)
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
