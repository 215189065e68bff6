# Installing and packaging allot: `make install` (PREFIX, DESTDIR), `make deb` (CPack DEB), and what both
# need from the build: allot_build_info.h (version, commit, build type, compiler, features), the manual
# pages and the shell completions, which the built `allot` writes from its own command table.
#
# Two components: `runtime` (bin/allot, man pages, completions, systemd units, /etc/allot, examples,
# docs; the package `allot`) and `dev` (include/allot, the static libraries and the CMake package
# config for find_package(allot); the package `allot-dev`).
#
# Parts built elsewhere: the Python package (python/CMakeLists.txt) installs itself into the runtime
# component, so the package carries it. The dashboard: the build's dashboard/ (cmake/Dashboard.cmake), or
# ALLOT_DASHBOARD_DIR when set, is installed as share/allot/dashboard; `allot version` reports the feature
# when the build has one (node and npm were there).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ALLOT_DASHBOARD_DIR "" CACHE PATH "Dashboard assets installed as share/allot/dashboard (empty: the build's)")
set(_gen ${CMAKE_BINARY_DIR}/generated)

# ---- allot_build_info.h: written at every build, rewritten only when a value changed ----
set(_feature_etcd 0)
set(_feature_nvml 0)
set(_feature_dashboard 0)
if(TARGET allot_store)
  set(_feature_etcd 1)  # --store etcd is part of the store module
endif()
if(TARGET allot_host)
  set(_feature_nvml 1)  # NVML is loaded at run time; the host module carries the loader
endif()
if(ALLOT_DASHBOARD_DIR AND IS_DIRECTORY ${ALLOT_DASHBOARD_DIR})
  set(_feature_dashboard 1)
endif()
set(_dashboard_index ${ALLOT_DASHBOARD_BUILD_DIR}/index.html)  # built or not: known at build time
add_custom_target(allot_build_info
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DOUTPUT=${_gen}/allot_build_info.h
          -DALLOT_VERSION=${PROJECT_VERSION} -DALLOT_BUILD_TYPE=${CMAKE_BUILD_TYPE}
          "-DALLOT_COMPILER=${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
          -DALLOT_FEATURE_ETCD=${_feature_etcd} -DALLOT_FEATURE_NVML=${_feature_nvml}
          -DALLOT_FEATURE_DASHBOARD=${_feature_dashboard} -DDASHBOARD_INDEX=${_dashboard_index}
          -P ${CMAKE_SOURCE_DIR}/packaging/build_info.cmake
  BYPRODUCTS ${_gen}/allot_build_info.h
  COMMENT "allot_build_info.h" VERBATIM)
add_dependencies(allot_build_info dashboard)
add_dependencies(allot_cli allot_build_info)
target_include_directories(allot_cli PRIVATE ${_gen})

# ---- man pages and completions, from the built binary ----
add_custom_command(
  OUTPUT ${_gen}/docs.stamp
  COMMAND sh ${CMAKE_SOURCE_DIR}/packaging/generate-docs.sh $<TARGET_FILE:allot> ${_gen}
          ${CMAKE_SOURCE_DIR}/packaging/changelog
  COMMAND ${CMAKE_COMMAND} -E touch ${_gen}/docs.stamp
  DEPENDS allot ${CMAKE_SOURCE_DIR}/packaging/generate-docs.sh ${CMAKE_SOURCE_DIR}/packaging/changelog
  COMMENT "Writing the man pages and shell completions" VERBATIM)
add_custom_target(allot_docs ALL DEPENDS ${_gen}/docs.stamp)

# ---- runtime ----
# Full RELRO for the installed binary (lintian: hardening-no-bindnow).
target_link_options(allot PRIVATE LINKER:-z,relro,-z,now)
install(TARGETS allot RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${_gen}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime
        FILES_MATCHING PATTERN "*.1.gz")
install(FILES ${_gen}/completions/allot DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        COMPONENT runtime)
install(FILES ${_gen}/completions/_allot DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions
        COMPONENT runtime)
install(FILES ${_gen}/completions/allot.fish DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d
        COMPONENT runtime)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/allot/examples
        COMPONENT runtime)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/server-config.md ${CMAKE_SOURCE_DIR}/docs/http-api.md
              ${CMAKE_SOURCE_DIR}/packaging/copyright ${_gen}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
if(_feature_dashboard)
  install(DIRECTORY ${ALLOT_DASHBOARD_DIR}/ DESTINATION ${CMAKE_INSTALL_DATADIR}/allot/dashboard COMPONENT runtime)
else()
  install(DIRECTORY ${ALLOT_DASHBOARD_BUILD_DIR}/ DESTINATION ${CMAKE_INSTALL_DATADIR}/allot/dashboard
          COMPONENT runtime OPTIONAL)
endif()

# The systemd units and /etc/allot follow the prefix chosen at install time (`cmake --install --prefix`,
# CPack's /usr): prefix /usr puts them in /lib/systemd/system and /etc/allot (Debian 12's places), any
# other prefix P in P/lib/systemd/system and P/etc/allot; ExecStart and --config name P's paths.
install(CODE "set(ALLOT_PACKAGING_DIR \"${CMAKE_SOURCE_DIR}/packaging\")
set(ALLOT_STAGING_DIR \"${CMAKE_BINARY_DIR}/generated/units\")
set(ALLOT_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(ALLOT_DATAROOT \"${CMAKE_INSTALL_DATAROOTDIR}\")
set(ALLOT_DOCDIR_REL \"${CMAKE_INSTALL_DOCDIR}\")" COMPONENT runtime)
install(SCRIPT ${CMAKE_SOURCE_DIR}/packaging/install_system_files.cmake COMPONENT runtime)

# ---- dev: headers, static libraries, CMake package ----
# allot_options carries the build's warnings, sanitizers and the source include root; installed, it
# carries only the C++ level, the installed include root and, from a sanitizer build, the sanitizer's
# link option.
foreach(_prop INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS)
  get_target_property(_value allot_options ${_prop})
  if(_value)
    set_property(TARGET allot_options PROPERTY ${_prop} "$<BUILD_INTERFACE:${_value}>")
  endif()
endforeach()
# A sanitizer build's libraries call into the sanitizer's runtime: whoever links them links it too.
if(ALLOT_SANITIZE)
  set_property(TARGET allot_options APPEND PROPERTY INTERFACE_LINK_OPTIONS
               "$<INSTALL_INTERFACE:-fsanitize=address,undefined>")
elseif(ALLOT_TSAN)
  set_property(TARGET allot_options APPEND PROPERTY INTERFACE_LINK_OPTIONS "$<INSTALL_INTERFACE:-fsanitize=thread>")
endif()
get_target_property(_value allot_options INTERFACE_INCLUDE_DIRECTORIES)
set(_wrapped "")
foreach(_d ${_value})
  list(APPEND _wrapped "$<BUILD_INTERFACE:${_d}>")
endforeach()
set_property(TARGET allot_options PROPERTY INTERFACE_INCLUDE_DIRECTORIES
             ${_wrapped} "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
set_property(TARGET allot_options PROPERTY EXPORT_NAME options)
set(_exported allot_options)
file(GLOB _module_dirs LIST_DIRECTORIES true ${CMAKE_SOURCE_DIR}/src/*)
foreach(_dir ${_module_dirs})
  get_filename_component(_m ${_dir} NAME)
  if(NOT TARGET allot_${_m})
    continue()
  endif()
  get_target_property(_type allot_${_m} TYPE)
  if(_type STREQUAL "STATIC_LIBRARY")
    set_property(TARGET allot_${_m} PROPERTY EXPORT_NAME ${_m})
    list(APPEND _exported allot_${_m})
  endif()
endforeach()
install(TARGETS ${_exported} EXPORT allotTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/allot DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
# Every Debian package carries its own copyright and changelog (lintian: no-copyright-file, no-changelog).
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright ${_gen}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/allot-dev COMPONENT dev)
set(_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/allot)
install(EXPORT allotTargets NAMESPACE allot:: DESTINATION ${_cmakedir} COMPONENT dev)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/allotConfig.cmake.in ${_gen}/allotConfig.cmake
                              INSTALL_DESTINATION ${_cmakedir})
write_basic_package_version_file(${_gen}/allotConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${_gen}/allotConfig.cmake ${_gen}/allotConfigVersion.cmake DESTINATION ${_cmakedir} COMPONENT dev)

# ---- CPack: `make deb` ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME allot)
set(CPACK_PACKAGE_VENDOR "allot")
set(CPACK_PACKAGE_CONTACT "allot maintainers <allot-maintainers@example.org>")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: each component's description starts with its own synopsis line.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME allot)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "resource allocation for fleets of agents and services
One program with subcommands: a placement engine and discrete-event simulator,
an HTTP/JSON allocation server (leases, quotas, fair share, preemption,
reservations, rate limits) with its node agent and systemd units, clients for
the server, a host resource guard, Kubernetes manifest planning, right-sizing
and HPA arithmetic.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME allot-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libyaml-cpp-dev, libsimdjson-dev, libfyaml-dev, pkg-config, nlohmann-json3-dev, libsqlite3-dev, libssl-dev, zlib1g-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "libraries and headers of allot, for embedding its engine
The public headers (include/allot), the static libraries of every module and
a CMake package: find_package(allot) gives allot::engine, allot::sim,
allot::server and the other modules.")
include(CPack)
