/*
 * onnx.h — what the ONNX exporter's two halves share: onnx_graph.c turns a
 * bound layer tree into nodes in execution order with their shapes
 * followed symbolically, onnx.c encodes them as an ONNX model and writes
 * it (inc_layer_export_onnx; the format and the mapping are described
 * there).
 */
#ifndef INC_ONNX_H
#define INC_ONNX_H
#include "layer.h"
#include "protobuf.h"

/* A dimension: > 0 known; DIM_UNKNOWN (depends on the image size); DIM_C
 * the input's channel (or feature) count while no layer has fixed it. */
#define DIM_UNKNOWN (-1)
#define DIM_C (-2)

typedef struct inc__onnx_shape {
  int ndim; /* 2 or 4; d[0] is always the batch N */
  int64_t d[4];
} inc__onnx_shape;

/* A node: leaf l (its parameters are further inputs) or a concat; its
 * inputs are the values ins[in0 .. in0 + nin), a value being named by the
 * layer that produced it (NULL: the graph input). */
typedef struct inc__onnx_node {
  const inc_layer *l;
  int in0, nin;
} inc__onnx_node;

typedef struct inc__onnx_exporter {
  const inc_layer *root;
  inc_context *ctx;
  const char *path;
  inc__onnx_node *nodes;
  int nnodes;
  const inc_layer **ins;
  int nins;
  const inc_layer *last; /* the node whose output is "logits" */
  int64_t c;             /* the input's channels (features), 0 while unknown */
  inc__pbuf b;
} inc__onnx_exporter;

/* d, with DIM_C replaced by the input's channel count once it is known. */
int64_t inc__onnx_dim(const inc__onnx_exporter *e, int64_t d);
/* 1 with *q filled when l has a window (a conv2d or a max/avg pool), else 0. */
int inc__onnx_window(const inc_layer *l, inc__window_geom *q);
/* Fills e->nodes and e->ins (allocated here; the caller frees them, also
 * on failure) and e->last from the tree e->root; *in gets the graph input's
 * symbolic shape, *out the output's. INC_ERR_OUT_OF_MEMORY, or the error of
 * a layer the exporter cannot map, with a message naming it. */
inc_status inc__onnx_graph(inc__onnx_exporter *e, inc__onnx_shape *in, inc__onnx_shape *out);

#endif
