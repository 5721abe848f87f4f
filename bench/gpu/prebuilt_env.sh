# Sourced by check.sh and session.sh: unpacks bench/gpu/pack.sh's bundle (once) and points
# LD_LIBRARY_PATH at the carried CPU-side libraries, then at wherever this machine keeps the CUDA
# runtime, cuBLAS, cuDNN and NCCL (the toolkit folder, or the Python wheels PyTorch uses).
# In: $1 = the bundle folder. Out: $bundle (unpacked folder: bin/, lib/, data/), LD_LIBRARY_PATH.
bundle=$(cd "${1:?needs the bundle folder pack.sh wrote}" && pwd)
if [ -f "$bundle/bundle.tar.xz" ]; then
  if [ ! -d /tmp/tspipe-gpu/bin ]; then
    mkdir -p /tmp/tspipe-gpu && tar -C /tmp/tspipe-gpu -xJf "$bundle/bundle.tar.xz"
  fi
  ln -sfn "$bundle/data" /tmp/tspipe-gpu/data
  bundle=/tmp/tspipe-gpu
fi
# Once per shell: check.sh run from session.sh finds the path already set.
if [ "${TSPIPE_GPU_LIBS:-}" != "$bundle" ]; then
  _libpath=$bundle/lib
  for _lib in libcudart.so.13 libcublas.so.13 libcudnn.so.9 libnccl.so.2; do
    if ! ldconfig -p 2>/dev/null | grep -q "$_lib"; then
      _found=$(find /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/ /opt /usr/lib -name "$_lib" 2>/dev/null | head -n 1)
      [ -n "$_found" ] && _libpath=$_libpath:$(dirname "$_found")
    fi
  done
  export LD_LIBRARY_PATH=$_libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} TSPIPE_GPU_LIBS=$bundle
  unset _lib _found _libpath
fi
