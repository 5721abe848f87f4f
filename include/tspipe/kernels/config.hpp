#pragma once
// Host/device portability for the element math shared by the CPU and CUDA backends.
// Under nvcc the functions in kernels/ compile for both sides; under a plain C++ compiler the
// macros vanish, so this directory never needs a CUDA header.
#if defined(__CUDACC__)
#define TSPIPE_HOST_DEVICE __host__ __device__
#define TSPIPE_FORCEINLINE __forceinline__
#else
#define TSPIPE_HOST_DEVICE
#define TSPIPE_FORCEINLINE inline
#endif
