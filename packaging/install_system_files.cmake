# Installs the systemd units and the files of /etc/allot; run by cmake_install.cmake (cmake/Install.cmake
# sets ALLOT_PACKAGING_DIR, ALLOT_STAGING_DIR, ALLOT_BINDIR, ALLOT_DATAROOT and ALLOT_DOCDIR_REL).
# The places follow the prefix given at install time: prefix /usr (the Debian package) gives
# /lib/systemd/system, /etc/allot and /var/lib/allot; any other prefix P gives P/lib/systemd/system,
# P/etc/allot and P/var/lib/allot. A config file that already exists is kept, not overwritten.
set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(_prefix STREQUAL "/usr")
  set(_unitdir /lib/systemd/system)
  set(ALLOT_SYSCONFDIR /etc/allot)
  set(ALLOT_STATEDIR /var/lib/allot)
else()
  set(_unitdir ${_prefix}/lib/systemd/system)
  set(ALLOT_SYSCONFDIR ${_prefix}/etc/allot)
  set(ALLOT_STATEDIR ${_prefix}/var/lib/allot)
endif()
set(ALLOT_BINDIR ${_prefix}/${ALLOT_BINDIR})
set(ALLOT_DATADIR ${_prefix}/${ALLOT_DATAROOT})
set(ALLOT_DOCDIR ${_prefix}/${ALLOT_DOCDIR_REL})
file(MAKE_DIRECTORY ${ALLOT_STAGING_DIR})
foreach(_unit allot-serve.service allot-agent.service)
  configure_file(${ALLOT_PACKAGING_DIR}/systemd/${_unit}.in ${ALLOT_STAGING_DIR}/${_unit} @ONLY)
  file(INSTALL DESTINATION ${_unitdir} TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES ${ALLOT_STAGING_DIR}/${_unit})
endforeach()
foreach(_conf serve.yaml agent.env)
  configure_file(${ALLOT_PACKAGING_DIR}/etc/${_conf}.in ${ALLOT_STAGING_DIR}/${_conf} @ONLY)
  if(EXISTS "$ENV{DESTDIR}${ALLOT_SYSCONFDIR}/${_conf}")
    message(STATUS "Keeping: $ENV{DESTDIR}${ALLOT_SYSCONFDIR}/${_conf} (the new default is ${ALLOT_STAGING_DIR}/${_conf})")
  else()
    file(INSTALL DESTINATION ${ALLOT_SYSCONFDIR} TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES ${ALLOT_STAGING_DIR}/${_conf})
  endif()
endforeach()
