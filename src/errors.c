/*
 * errors.c — versions, status names and the per-context error message.
 *
 * Every public call clears its context's message on entry (inc__begin) and
 * fills it on failure (inc__error), so inc_context_last_error() always
 * describes the most recent failure, sqlite3_errmsg style.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define INC__STR2(x) #x
#define INC__STR(x) INC__STR2(x)

INC_API unsigned inc_version_number(void) { return (unsigned)INC_VERSION_NUMBER; }

INC_API const char *inc_version_string(void)
{
  return INC__STR(INC_VERSION_MAJOR) "." INC__STR(INC_VERSION_MINOR) "." INC__STR(
      INC_VERSION_PATCH);
}

INC_API const char *inc_status_string(inc_status s)
{
  switch (s) {
  case INC_OK: return "INC_OK";
  case INC_ERR_INVALID_ARGUMENT: return "INC_ERR_INVALID_ARGUMENT";
  case INC_ERR_SHAPE: return "INC_ERR_SHAPE";
  case INC_ERR_OUT_OF_MEMORY: return "INC_ERR_OUT_OF_MEMORY";
  case INC_ERR_DEVICE: return "INC_ERR_DEVICE";
  case INC_ERR_UNAVAILABLE: return "INC_ERR_UNAVAILABLE";
  case INC_ERR_STATE: return "INC_ERR_STATE";
  case INC_ERR_IO: return "INC_ERR_IO";
  case INC_ERR_FORMAT: return "INC_ERR_FORMAT";
  case INC_ERR_DEVICE_LOST: return "INC_ERR_DEVICE_LOST";
  }
  return "INC_ERR_UNKNOWN";
}

inc_status inc__verror(inc_context *ctx, inc_status s, const char *fmt, va_list ap)
{
  if (ctx) vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
  return s;
}

inc_status inc__error(inc_context *ctx, inc_status s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  inc__verror(ctx, s, fmt, ap);
  va_end(ap);
  return s;
}

inc_status inc__begin(inc_context *ctx)
{
  if (!ctx) return INC_OK;
  ctx->err[0] = '\0';
  if (ctx->latched != INC_OK)
    return inc__error(ctx, ctx->latched,
                      "the device was lost after an earlier error: CUDA's state in this "
                      "process is broken, and a new context will not help; save what you "
                      "can from host memory and restart the process");
  return INC_OK;
}

INC_API const char *inc_context_last_error(const inc_context *ctx)
{
  return ctx ? ctx->err : "";
}
