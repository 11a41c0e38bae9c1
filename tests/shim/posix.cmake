# tests/shim/posix.cmake - the POSIX test programs (owned by the tests
# engineer; included from tests/shim/CMakeLists.txt, which the shim engineer owns).
#   posix_srv / posix_cli   plain POSIX server (block | thread | epoll ET) and client
#   shim_posix_kernel       both on the kernel, between the test bed namespaces
#   shim_posix_preload      again with the server under LD_PRELOAD=libxtcp.so:
#                           identical client output, no kernel accept (nstat)
#   shim_posix_client       the client under LD_PRELOAD instead (XTCP_CONNECT_PORTS)
#   shim_posix_localcsum    as preload, the client's kernel with its default checksum
#                           offload (unfinished checksums over veth), no ethtool change
#   shim_posix_ipv6         as preload over IPv6 (server AF_INET6 on [::], client to fd77:1::1)
#   shim_posix_mapped       as preload, server on [::] dual-stack, IPv4 client (v4-mapped)
find_package(Threads REQUIRED)
add_executable(posix_srv ${CMAKE_CURRENT_LIST_DIR}/posix_srv.c)
target_link_libraries(posix_srv Threads::Threads)
add_executable(posix_cli ${CMAKE_CURRENT_LIST_DIR}/posix_cli.c)
target_link_libraries(posix_cli Threads::Threads)

foreach(variant kernel preload client localcsum ipv6 mapped)
	xtcp_serial_test(shim_posix_${variant} 900
		${CMAKE_CURRENT_LIST_DIR}/posix_run.sh ${CMAKE_BINARY_DIR} ${variant})
endforeach()
