# Runs one golden test: every "# RUN: ARGS" (or "# RUN[PREFIX]: ARGS") line of TEST runs
# `nnc ARGS` (%s = the test file, %src = the source tree, %out = a scratch directory for
# files the command writes) and FileCheck matches
# "exit: CODE" followed by its stdout and stderr against the CHECK (or PREFIX) lines.
if(NOT OUT)
  set(OUT ${CMAKE_CURRENT_BINARY_DIR})
endif()
file(STRINGS ${TEST} lines)
get_filename_component(name ${TEST} NAME_WE)
set(n 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^# RUN(\\[([A-Z0-9-]+)\\])?: (.*)$")
    set(prefix "${CMAKE_MATCH_2}")
    if(prefix STREQUAL "")
      set(prefix CHECK)
    endif()
    set(args "${CMAKE_MATCH_3}")
    string(REPLACE "%src" "${SRC}" args "${args}")
    string(REPLACE "%out" "${OUT}" args "${args}")
    string(REPLACE "%s" "${TEST}" args "${args}")
    separate_arguments(argv UNIX_COMMAND "${args}")
    execute_process(COMMAND ${NNC} ${argv} WORKING_DIRECTORY ${SRC}
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    set(tmp "${OUT}/golden-${name}-${n}.out")
    file(WRITE ${tmp} "exit: ${rc}\n${out}${err}")
    execute_process(COMMAND ${FILECHECK} ${TEST} --input-file ${tmp} --check-prefix=${prefix}
                            --match-full-lines
                    RESULT_VARIABLE fc)
    if(NOT fc EQUAL 0)
      message(FATAL_ERROR "golden test ${name}: 'nnc ${args}' did not match ${prefix} lines")
    endif()
    math(EXPR n "${n} + 1")
  endif()
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "golden test ${name} has no RUN line")
endif()
