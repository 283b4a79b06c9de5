/*
 * module.c — finds, loads and checks the CUDA backend module at run time.
 *
 * The core links no CUDA library (module.h says why). A context that asks
 * for CUDA (or AUTO) opens libinception-cuda.so.<MAJOR>, looked for in this
 * order:
 *   1. the file named by $INCEPTION_CUDA_MODULE, when that is set: an
 *      explicit choice wins, and is the only place looked at (tests point
 *      it at the emulated module; a wrong path is reported, not skipped);
 *   2. the directory of the object that holds the core: beside
 *      libinception.so.<MAJOR>, or beside the program that linked
 *      libinception.a statically;
 *   3. the dynamic loader's own search (the program's RUNPATH,
 *      LD_LIBRARY_PATH, the ld.so cache, /usr/lib...).
 * Each context keeps its own handle (dlopen counts references; RTLD_NODELETE
 * keeps the module mapped once loaded, since the CUDA runtime inside it
 * must not be unloaded), so the core needs no global state for it.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "module.h"

static const inc__host inc__host_table = {
    sizeof(inc_context), sizeof(inc__backend_ops), inc__verror, inc__calloc, inc__free,
    inc__fault_should_fail,
};

/* The directory of the object that holds this code, into dir (cap bytes);
 * 0 if unknown. */
static int core_dir(char *dir, size_t cap)
{
  Dl_info info;
  memset(&info, 0, sizeof info);
  if (!dladdr((void *)&inc__host_table, &info) || !info.dli_fname || !info.dli_fname[0]) return 0;
  const char *slash = strrchr(info.dli_fname, '/');
  if (!slash) return 0; /* the main program, found through PATH: no directory known */
  size_t n = (size_t)(slash - info.dli_fname);
  if (n + 1 > cap) return 0;
  memcpy(dir, info.dli_fname, n);
  dir[n] = '\0';
  return 1;
}

static void *try_open(const char *path)
{
  return dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

/* Opens the module file (see the order above); on failure returns NULL
 * with the reason in why. */
static void *open_file(char *why, size_t cap)
{
  const char *env = getenv(INC__CUDA_MODULE_ENV);
  if (env && env[0]) {
    void *h = try_open(env);
    if (!h)
      snprintf(why, cap, "cannot load %s=%.300s: %.400s", INC__CUDA_MODULE_ENV, env, dlerror());
    return h;
  }
  char dir[512], path[600];
  if (core_dir(dir, sizeof dir)) {
    snprintf(path, sizeof path, "%s/%s", dir, INC__CUDA_MODULE_FILE);
    if (access(path, F_OK) == 0) {
      void *h = try_open(path);
      if (!h) snprintf(why, cap, "found %.300s but cannot load it: %.400s", path, dlerror());
      return h;
    }
  } else {
    snprintf(dir, sizeof dir, "(the core's directory is unknown)");
  }
  void *h = try_open(INC__CUDA_MODULE_FILE);
  if (!h)
    snprintf(why, cap,
             "the module %s was found neither in %.300s nor by the dynamic loader (%.300s); "
             "build it with CUDA=1 (needs nvcc), or name it with %s",
             INC__CUDA_MODULE_FILE, dir, dlerror(), INC__CUDA_MODULE_ENV);
  return h;
}

/* Opens and checks the module: the handle and its interface, or NULL with
 * the reason in why. */
static void *open_module(const inc__module **mod, char *why, size_t cap)
{
  *mod = NULL;
  void *h = open_file(why, cap);
  if (!h) return NULL;
  inc__module_entry_fn entry;
  /* The ISO C cast from void* to a function pointer, the POSIX way. */
  *(void **)&entry = dlsym(h, INC__MODULE_ENTRY);
  if (!entry) {
    snprintf(why, cap, "the module has no entry point %s: not a libinception module",
             INC__MODULE_ENTRY);
  } else if (entry(INC__MODULE_VERSION, &inc__host_table, mod, why, cap)) {
    const inc__module *m = *mod;
    if (m && m->version == INC__MODULE_VERSION && m->context_size == sizeof(inc_context) &&
        m->ops_size == sizeof(inc__backend_ops) && m->usable && m->init)
      return h;
    snprintf(why, cap,
             "the module was built for interface version %u (context %zu bytes, table %zu); "
             "this core has version %u (%zu, %zu): rebuild them together",
             m ? m->version : 0u, m ? m->context_size : (size_t)0, m ? m->ops_size : (size_t)0,
             (unsigned)INC__MODULE_VERSION, sizeof(inc_context), sizeof(inc__backend_ops));
  }
  *mod = NULL;
  dlclose(h);
  return NULL;
}

int inc__cuda_usable(char *why, size_t cap)
{
  char buf[INC__ERR_CAP - 64];
  const inc__module *mod;
  void *h = open_module(&mod, buf, sizeof buf);
  int usable = h && mod->usable(buf, sizeof buf);
  if (h) dlclose(h);
  if (!usable && why && cap) snprintf(why, cap, "CUDA backend: %s", buf);
  return usable;
}

inc_status inc__cuda_backend_init(inc_context *ctx)
{
  char why[INC__ERR_CAP - 64];
  const inc__module *mod;
  void *h = open_module(&mod, why, sizeof why);
  if (!h) return inc__error(ctx, INC_ERR_UNAVAILABLE, "CUDA backend: %s", why);
  inc_status s = mod->init(ctx);
  if (s != INC_OK) {
    dlclose(h);
    return s;
  }
  ctx->module = h;
  return INC_OK;
}

void inc__module_close(inc_context *ctx)
{
  if (ctx->module) dlclose(ctx->module);
  ctx->module = NULL;
}
