/*
 * errors.cc — the emulated CUDA runtime's error names and texts, CUDA's own
 * for the codes it has (tests only; see cudaemu.h).
 */
#include "cuda_runtime.h"

const char *cudaGetErrorName(cudaError_t e)
{
  switch (e) {
#define EMU_NAME(x) \
  case x: return #x;
    EMU_NAME(cudaSuccess)
    EMU_NAME(cudaErrorInvalidValue)
    EMU_NAME(cudaErrorMemoryAllocation)
    EMU_NAME(cudaErrorInitializationError)
    EMU_NAME(cudaErrorInvalidConfiguration)
    EMU_NAME(cudaErrorInvalidDevicePointer)
    EMU_NAME(cudaErrorInvalidMemcpyDirection)
    EMU_NAME(cudaErrorInsufficientDriver)
    EMU_NAME(cudaErrorNoDevice)
    EMU_NAME(cudaErrorInvalidDevice)
    EMU_NAME(cudaErrorECCUncorrectable)
    EMU_NAME(cudaErrorNvlinkUncorrectable)
    EMU_NAME(cudaErrorContained)
    EMU_NAME(cudaErrorInvalidResourceHandle)
    EMU_NAME(cudaErrorNotReady)
    EMU_NAME(cudaErrorIllegalAddress)
    EMU_NAME(cudaErrorLaunchOutOfResources)
    EMU_NAME(cudaErrorLaunchTimeout)
    EMU_NAME(cudaErrorAssert)
    EMU_NAME(cudaErrorHardwareStackError)
    EMU_NAME(cudaErrorIllegalInstruction)
    EMU_NAME(cudaErrorMisalignedAddress)
    EMU_NAME(cudaErrorInvalidAddressSpace)
    EMU_NAME(cudaErrorInvalidPc)
    EMU_NAME(cudaErrorLaunchFailure)
    EMU_NAME(cudaErrorExternalDevice)
    EMU_NAME(cudaErrorUnknown)
#undef EMU_NAME
  }
  return "cudaErrorUnrecognized";
}

const char *cudaGetErrorString(cudaError_t e)
{
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
  case cudaErrorLaunchFailure: return "unspecified launch failure";
  case cudaErrorUnknown: return "unknown error";
  default: return cudaGetErrorName(e);
  }
}
