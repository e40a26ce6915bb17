# Repairs Debian's Kokkos package, whose Kokkos::kokkos names <prefix>/lib/include, a directory that does not exist.
# Used by the top-level CMakeLists.txt and by the installed tensorlogicConfig.cmake; touches nothing that works.
include_guard(GLOBAL)

# Replaces every missing directory in TARGET's INTERFACE_INCLUDE_DIRECTORIES by the one that holds HEADER.
function(tensorlogic_repair_include_directories target header)
  if(NOT TARGET ${target})
    return()
  endif()
  # An in-tree dependency (ALIAS or non-imported target) is built by the parent project and never broken this way.
  get_target_property(aliased ${target} ALIASED_TARGET)
  get_target_property(imported ${target} IMPORTED)
  if(aliased OR NOT imported)
    return()
  endif()
  get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT dirs)
    return()
  endif()
  set(kept "")
  set(missing "")
  foreach(dir IN LISTS dirs)
    # Generator expressions cannot be checked at configure time; keep them as they are.
    if(dir MATCHES "\\$<" OR IS_DIRECTORY "${dir}")
      list(APPEND kept "${dir}")
    else()
      list(APPEND missing "${dir}")
    endif()
  endforeach()
  if(NOT missing)
    return()
  endif()
  string(MAKE_C_IDENTIFIER "${header}" header_id)
  string(TOUPPER "TENSORLOGIC_INCLUDE_DIR_${header_id}" cache_var)
  # Kokkos_INCLUDE_DIRS is right in Debian's config even where the target is wrong.
  find_path(${cache_var} NAMES ${header}
    HINTS ${Kokkos_INCLUDE_DIRS} /usr/include/trilinos
    PATH_SUFFIXES trilinos
    DOC "directory holding ${header}, used in place of the missing include directory of ${target}")
  if(NOT ${cache_var})
    message(FATAL_ERROR "tensorlogic: ${target} names the include directory '${missing}', which does not exist, "
      "and ${header} was not found elsewhere; set ${cache_var} to the directory that holds it")
  endif()
  list(APPEND kept "${${cache_var}}")
  list(REMOVE_DUPLICATES kept)
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${kept}")
  message(STATUS "tensorlogic: ${target} named the missing include directory '${missing}'; using '${${cache_var}}'")
endfunction()

# Repairs Kokkos::kokkos (and Kokkos Kernels' target, should it carry the same fault) after find_package.
function(tensorlogic_repair_kokkos)
  tensorlogic_repair_include_directories(Kokkos::kokkos Kokkos_Core.hpp)
  tensorlogic_repair_include_directories(Kokkos::kokkoskernels KokkosKernels_config.h)
  tensorlogic_repair_include_directories(trilinos_kokkoskernels KokkosKernels_config.h)
endfunction()

# Sets VAR to the target that Kokkos Kernels' package defines: Kokkos::kokkoskernels (Kokkos 4) or
# trilinos_kokkoskernels (Debian's Trilinos build); empty when neither exists or when the one found was built for
# another Kokkos (Debian's Kokkos Kernels beside a user's own Kokkos would mix two Kokkos libraries).
function(tensorlogic_kokkos_kernels_target var)
  set(found "")
  if(TARGET Kokkos::kokkoskernels)
    set(found Kokkos::kokkoskernels)
  elseif(TARGET trilinos_kokkoskernels)
    get_target_property(kokkos_libraries Kokkos::kokkos INTERFACE_LINK_LIBRARIES)
    if("trilinos_kokkoscore" IN_LIST kokkos_libraries)
      set(found trilinos_kokkoskernels)
    else()
      message(STATUS "tensorlogic: ignoring the Kokkos Kernels in ${KokkosKernels_DIR}: "
        "it belongs to Trilinos' Kokkos, not to Kokkos ${Kokkos_VERSION} in ${Kokkos_DIR}")
    endif()
  endif()
  set(${var} "${found}" PARENT_SCOPE)
endfunction()
