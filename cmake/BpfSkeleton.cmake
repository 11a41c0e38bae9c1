# BpfSkeleton.cmake - compile a BPF C program with clang and embed it as a
# bpftool skeleton header (the object bytes live inside the header, so the
# final library needs no file at run time). Included once, from the top level
# (which has found libbpf).
#
#   xtcp_bpf_object(NAME SRC INCLUDE_DIR [HEADERS...])
#     clang -g -O2 -target bpf -idirafter /usr/include/<multiarch> -I INCLUDE_DIR
#       SRC -> NAME.bpf.o in the current binary dir (rebuilt when HEADERS change)
#   xtcp_bpf_skeleton(NAME SRC [HEADERS...])
#     xtcp_bpf_object(), then bpftool gen skeleton NAME.bpf.o name NAME > NAME.skel.h
#     => INTERFACE library NAME_skel: include dir with NAME.skel.h and the
#        source dir (for the shared map-layout header), links libbpf.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

function(xtcp_bpf_object name src inc)
	set(arch_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
	if(NOT CMAKE_LIBRARY_ARCHITECTURE)
		set(arch_inc /usr/include/x86_64-linux-gnu)
	endif()
	add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o
		COMMAND ${BPF_CLANG} -g -O2 -target bpf -Wall -Werror -idirafter ${arch_inc}
			-I${inc} -c ${CMAKE_CURRENT_SOURCE_DIR}/${src}
			-o ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o
		DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${ARGN}
		COMMENT "BPF ${src}"
		VERBATIM)
endfunction()

function(xtcp_bpf_skeleton name src)
	set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
	set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
	xtcp_bpf_object(${name} ${src} ${CMAKE_CURRENT_SOURCE_DIR} ${ARGN})
	add_custom_command(OUTPUT ${skel}
		COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
		DEPENDS ${obj}
		COMMENT "bpftool gen skeleton ${name}"
		VERBATIM)
	add_custom_target(${name}_skel_gen DEPENDS ${skel})
	add_library(${name}_skel INTERFACE)
	add_dependencies(${name}_skel ${name}_skel_gen)
	target_include_directories(${name}_skel INTERFACE
		${CMAKE_CURRENT_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
	target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
