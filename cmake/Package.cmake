# Package.cmake - what `cmake --install` and `cpack -G DEB` ship, one layout:
#   lib/<multiarch>/libxtcp.so  bin/xtcp  sbin/xtcpctl
#   share/man/man1/xtcp.1.gz man7/xtcp.7.gz man8/xtcpctl.8.gz
#   share/doc/xtcp/ (README, docs, examples)
# The package's dependencies are computed from the binaries (dpkg-shlibdeps):
# the run-time libraries, nothing else.
find_program(XTCP_GZIP gzip REQUIRED)
set(xtcp_man_gz)
foreach(page xtcp.1 xtcp.7 xtcpctl.8)
	configure_file(${PROJECT_SOURCE_DIR}/docs/man/${page} ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
	add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
		COMMAND ${XTCP_GZIP} -9nkf ${CMAKE_BINARY_DIR}/man/${page}
		DEPENDS ${CMAKE_BINARY_DIR}/man/${page} ${PROJECT_SOURCE_DIR}/docs/man/${page}
		COMMENT "man page ${page}")
	list(APPEND xtcp_man_gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
	string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
	install(FILES ${CMAKE_BINARY_DIR}/man/${page}.gz
		DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(xtcp_man ALL DEPENDS ${xtcp_man_gz})

set(xtcp_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/xtcp)
install(FILES README.md docs/ARCHITECTURE.md docs/install.md docs/metrics.md
	docs/container.md DESTINATION ${xtcp_docdir})
install(FILES docs/examples/nginx-xtcp.conf docs/examples/postgresql-xtcp.conf
	docs/examples/prometheus.yml
	docs/examples/xtcp-metrics.service
	DESTINATION ${xtcp_docdir}/examples)
install(PROGRAMS docs/examples/container.sh DESTINATION ${xtcp_docdir}/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME xtcp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
	"TCP ports of unmodified programs on a userspace stack over AF_XDP")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "\
xtcp runs the TCP ports you name of an unmodified Linux program on an
in-process userspace TCP/IP stack fed by AF_XDP (LD_PRELOAD of libxtcp.so,
started by the launcher xtcp), while everything else stays with the kernel.
xtcpctl shows status, connections and Prometheus metrics.")
set(XTCP_PACKAGE_MAINTAINER "xtcp developers <xtcp@localhost>" CACHE STRING
	"Maintainer field of the Debian package")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${XTCP_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # xtcp_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# CPack adds postinst/postrm scripts calling ldconfig for any library under
# /usr/lib, and a package with a postrm stays known to dpkg ("config-files")
# after `dpkg -r`. libxtcp.so is preloaded by path and has no soname users:
# a dpkg trigger does what ldconfig would, and naming (absent) postinst and
# postrm files here stops CPack from generating its own (it checks names only).
file(WRITE ${CMAKE_BINARY_DIR}/deb/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/deb/triggers
	${CMAKE_BINARY_DIR}/deb/none/postinst ${CMAKE_BINARY_DIR}/deb/none/postrm)
include(CPack)
