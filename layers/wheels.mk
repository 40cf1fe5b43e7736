# Shared by the dependency layers' Makefiles (RuntimeDepsLayer, TrainDepsLayer), which include it.
# `sam build` (Metadata: BuildMethod: makefile) copies a layer's folder to a scratch directory, runs
# `make --makefile <the original Makefile> build-<Layer>` there and sets ARTIFACTS_DIR; the layer's
# content is $(ARTIFACTS_DIR)/python (on sys.path in Lambda as /opt/python).
# pip only downloads manylinux wheels for CPython 3.13 x86_64, so neither Docker nor a local
# python3.13 is needed.
PIP ?= python3 -m pip
TARGET = $(ARTIFACTS_DIR)/python
PIP_FLAGS := --disable-pip-version-check --quiet --no-deps \
	--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
	--implementation cp --python-version 3.13 --only-binary=:all: --no-compile

# $(call layer_wheels,<more paths under TARGET to drop>): requirements.txt's wheels into TARGET,
# then drop what is never imported at run time. Never touch the `<pkg>.libs` folders (the vendored
# shared objects, e.g. numpy.libs/libscipy_openblas*.so) nor the *.dist-info metadata. Symbol
# tables of the extension modules are not needed to run (the dynamic symbol table stays): strip
# them, skipped with a note when binutils' strip is not installed.
define layer_wheels
	$(PIP) install $(PIP_FLAGS) --target "$(TARGET)" -r requirements.txt
	find "$(TARGET)" -depth -type d \( -name __pycache__ -o -name tests \) \
		-not -path '*.libs/*' -exec rm -rf {} +
	find "$(TARGET)" -type f \( -name '*.pyc' -o -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' \
		-o -name '*.pxi' -o -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) \
		-not -path '*.libs/*' -delete
	if command -v strip >/dev/null 2>&1; then \
		find "$(TARGET)" -type f -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} + ; \
	else echo "strip not found: extension modules kept with their symbol tables"; fi
	rm -rf "$(TARGET)/bin" $(foreach path,$(1),"$(TARGET)/$(path)")
endef

# Bytecode for Lambda's python3.13, compiled at build time: /opt is read-only in Lambda, so a layer
# without it compiles every module it imports from source on every cold start, and Lambda bills
# INIT (numpy alone: 0.45 s of CPU from source, 0.14 s from bytecode, measured here with
# python3.13). unchecked-hash: valid whatever the files' mtimes become through zip and unzip; a
# published layer's sources never change. The top Makefile exports PYTHON_RUNTIME (pyenv's 3.13 or
# python3.13 on PATH); without one the layer is shipped as source, and the build says so.
PYTHON_RUNTIME ?= python3.13
define runtime_bytecode
	if command -v $(PYTHON_RUNTIME) >/dev/null 2>&1 \
		&& $(PYTHON_RUNTIME) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		$(PYTHON_RUNTIME) -m compileall -q -j0 --invalidation-mode unchecked-hash "$(1)"; \
	else echo "$(PYTHON_RUNTIME) (3.13) not found: $(1) shipped without bytecode, slower cold starts"; fi
endef
