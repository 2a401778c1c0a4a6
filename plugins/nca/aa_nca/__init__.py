"""AA plugin: the Growing Neural Cellular Automaton (see README.md).

The ``growing_nca`` cell (:mod:`aa_nca.cell`, its C++ perception in :mod:`aa_nca.cell_kernel`), the
``growth`` pipeline and the base of pool-trained growth datasets (:mod:`aa_nca.growth`), the sample
pool (:mod:`aa_nca.pool`), the base of growth objectives (:mod:`aa_nca.objective`) and their configs
(:mod:`aa_nca.config`). Depends on aa-core (and torch) only.
"""
