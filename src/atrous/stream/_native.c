/* The compiled one-sample step of atrous.stream (engine="compiled"): a loop over the instruction list of
 * atrous.stream.ir, lowered by _native.py into a flat table of `op_t`. One call runs a whole step.
 *
 * Layout: every value is (B, CP) floats, row-major, CP = the channel count rounded up to the vector width, the
 * padding lanes zero or harmless (weights of padding input channels are zero). A convolution with k taps and
 * dilation d keeps a ring of span = (k - 1) d rows of (B, CP_in): the sample of time s sits in row s mod span.
 * Its weight is tap-major (k, C_in, CP_out), so one tap over one input channel is a few vector loads. The kernel
 * keeps an NB x NV block of accumulators (NB streams x NV vectors of outputs) in registers and runs over the taps
 * and input channels once per block: at batch 1 a mat-vec bound by the weights' bandwidth, at batch 16 a small
 * GEMM bound by the FMA rate.
 *
 * Built by `python -m atrous.stream._build` (the Makefile does it); -O3 -march=native, no fast-math. */
#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#define VL 16
#define NB_MAX 6
#else
#define VL 8
#define NB_MAX 2
#endif
#define NV_MAX 4

typedef float vec __attribute__((vector_size(VL * 4), aligned(4)));

enum { OP_INPUT = 0, OP_CONV = 1, OP_ACT = 2, OP_AFFINE = 3, OP_NORM = 4, OP_GATE = 5, OP_ADD = 6, OP_OUTPUT = 7 };
enum { A_RELU = 0, A_TANH, A_SIGMOID, A_LEAKY, A_ELU, A_SELU, A_GELU, A_GELU_TANH, A_SILU, A_IDENTITY };

typedef struct {
    int kind, fn, batch, c_in, cp_in, c_out, cp_out, kernel, dilation, span, index, pad_;
    float alpha, eps;
    const float *src, *src2;
    float *dst, *ring;
    const float *w, *b;
} op_t;

static inline __attribute__((always_inline)) vec vload(const float *p) { return *(const vec *)p; }
static inline __attribute__((always_inline)) void vstore(float *p, vec v) { *(vec *)p = v; }
static inline __attribute__((always_inline)) vec vbroadcast(float s) { return (vec){0} + s; }

/* acc[NB][NV] = bias + sum over taps j and input channels c of x_j[row, c] * W[j, c, o-block] */
static inline __attribute__((always_inline)) void block(const int NB, const int NV, const float *const *taps,
                                                        int k, int c_in, int xs, const float *w, int ws,
                                                        long wtap, const float *bias, float *y, int ys) {
    vec acc[NB_MAX][NV_MAX];
    for (int r = 0; r < NB; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = vload(bias + v * VL);
    for (int j = 0; j < k; j++) {
        const float *x = taps[j];
        const float *wj = w + j * wtap;
        for (int c = 0; c < c_in; c++) {
            vec wv[NV_MAX];
            for (int v = 0; v < NV; v++) wv[v] = vload(wj + (long)c * ws + v * VL);
            for (int r = 0; r < NB; r++) {
                vec s = vbroadcast(x[r * xs + c]);
                for (int v = 0; v < NV; v++) acc[r][v] += s * wv[v];
            }
        }
    }
    for (int r = 0; r < NB; r++)
        for (int v = 0; v < NV; v++) vstore(y + r * ys + v * VL, acc[r][v]);
}

#define CASE(nb, nv) case (nb) * 8 + (nv): block(nb, nv, taps, k, c_in, xs, w, ws, wtap, bias, y, ys); break;
#define ROW(nb) CASE(nb, 1) CASE(nb, 2) CASE(nb, 3) CASE(nb, 4)

static void run_block(int nb, int nv, const float *const *taps, int k, int c_in, int xs, const float *w, int ws,
                      long wtap, const float *bias, float *y, int ys) {
    switch (nb * 8 + nv) {
        ROW(1) ROW(2)
#if NB_MAX >= 6
        ROW(3) ROW(4) ROW(5) ROW(6)
#endif
        default: break;
    }
}

static void conv(const op_t *op, long t) {
    const int B = op->batch, k = op->kernel, xs = op->cp_in, ys = op->cp_out;
    const float *taps[64];
    for (int j = 0; j < k - 1; j++) {
        long back = (long)(k - 1 - j) * op->dilation;
        long row = (t - back) % op->span;
        if (row < 0) row += op->span;
        taps[j] = op->ring + row * (long)B * xs;
    }
    taps[k - 1] = op->src;
    const long wtap = (long)op->c_in * op->cp_out;
    const int nvec = op->cp_out / VL;
    for (int ob = 0; ob < nvec; ob += NV_MAX) {
        int nv = nvec - ob < NV_MAX ? nvec - ob : NV_MAX;
        for (int b0 = 0; b0 < B; b0 += NB_MAX) {
            int nb = B - b0 < NB_MAX ? B - b0 : NB_MAX;
            const float *rows[64];
            for (int j = 0; j < k; j++) rows[j] = taps[j] + (long)b0 * xs;
            run_block(nb, nv, rows, k, op->c_in, xs, op->w + ob * VL, op->cp_out, wtap, op->b + ob * VL,
                      op->dst + (long)b0 * ys + ob * VL, ys);
        }
    }
    if (op->span > 0)
        memcpy(op->ring + (t % op->span) * (long)B * xs, op->src, sizeof(float) * (size_t)B * xs);
}

static inline float act1(int fn, float v, float alpha) {
    switch (fn) {
        case A_RELU: return v > 0.f ? v : 0.f;
        case A_TANH: return tanhf(v);
        case A_SIGMOID: return 1.f / (1.f + expf(-v));
        case A_LEAKY: return v >= 0.f ? v : alpha * v;
        case A_ELU: return v > 0.f ? v : alpha * expm1f(v);
        case A_SELU: return 1.0507009873554805f * (v > 0.f ? v : 1.6732632423543772f * expm1f(v));
        case A_GELU: return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
        case A_GELU_TANH: return 0.5f * v * (1.f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        case A_SILU: return v / (1.f + expf(-v));
        default: return v;
    }
}

static void act(const op_t *op) {
    const long n = (long)op->batch * op->cp_out;
    const float *x = op->src;
    float *y = op->dst;
    if (op->fn == A_RELU) {
        for (long i = 0; i < n; i++) y[i] = x[i] > 0.f ? x[i] : 0.f;
        return;
    }
    for (long i = 0; i < n; i++) y[i] = act1(op->fn, x[i], op->alpha);
}

/* The ring rows a step reads were written up to (k - 1) d steps ago, long out of cache for large dilations:
 * ask for all of them (and the rows it writes) before the first convolution needs them. */
static void prefetch_rings(const op_t *ops, int n_ops, long t) {
    for (int i = 0; i < n_ops; i++) {
        const op_t *op = ops + i;
        if (op->kind != OP_CONV || op->span == 0) continue;
        const long row_floats = (long)op->batch * op->cp_in;
        for (int j = 0; j < op->kernel; j++) {
            long row = (t - (long)(op->kernel - 1 - j) * op->dilation) % op->span;
            if (row < 0) row += op->span;
            const char *p = (const char *)(op->ring + row * row_floats);
            for (long b = 0; b < row_floats * 4; b += 64) __builtin_prefetch(p + b, j == op->kernel - 1, 3);
        }
    }
}

void atrous_step(const op_t *ops, int n_ops, long t, const float *const *inputs, float *out) {
    prefetch_rings(ops, n_ops, t);
    for (int i = 0; i < n_ops; i++) {
        const op_t *op = ops + i;
        const int B = op->batch, C = op->c_out, CP = op->cp_out;
        switch (op->kind) {
            case OP_INPUT:  /* (B, C) contiguous -> (B, CP) */
                for (int r = 0; r < B; r++) memcpy(op->dst + (long)r * CP, inputs[op->index] + (long)r * C,
                                                   sizeof(float) * (size_t)C);
                break;
            case OP_CONV: conv(op, t); break;
            case OP_ACT: act(op); break;
            case OP_AFFINE:
                for (int r = 0; r < B; r++)
                    for (int c = 0; c < CP; c += VL)
                        vstore(op->dst + (long)r * CP + c,
                               vload(op->src + (long)r * CP + c) * vload(op->w + c) + vload(op->b + c));
                break;
            case OP_NORM:
                for (int r = 0; r < B; r++) {
                    const float *x = op->src + (long)r * CP;
                    float *y = op->dst + (long)r * CP;
                    double mean = 0, var = 0;
                    for (int c = 0; c < C; c++) mean += x[c];
                    mean /= C;
                    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
                    float inv = 1.f / sqrtf((float)(var / C) + op->eps);
                    for (int c = 0; c < C; c++) {
                        float v = (float)(x[c] - mean) * inv;
                        y[c] = op->w ? v * op->w[c] + op->b[c] : v;
                    }
                }
                break;
            case OP_GATE:  /* src: (B, CP_in) holding 2C channels; dst (B, CP) */
                for (int r = 0; r < B; r++) {
                    const float *h = op->src + (long)r * op->cp_in;
                    float *z = op->dst + (long)r * CP;
                    for (int c = 0; c < C; c++) {
                        float a = op->fn == A_TANH ? tanhf(h[c]) : h[c];
                        z[c] = a / (1.f + expf(-h[C + c]));
                    }
                }
                break;
            case OP_ADD: {
                const long n = (long)B * CP;
                for (long j = 0; j < n; j += VL) vstore(op->dst + j, vload(op->src + j) + vload(op->src2 + j));
                break;
            }
            case OP_OUTPUT:
                for (int r = 0; r < B; r++) memcpy(out + (long)r * C, op->src + (long)r * CP, sizeof(float) * (size_t)C);
                break;
            default: break;
        }
    }
}

/* What one stream set keeps between calls: its table, and the time step, advanced here (so that a call from
 * Python passes two pointers and nothing else). `inputs[0]` is set from `x`; side inputs are set by the caller. */
typedef struct {
    const op_t *ops;
    long n_ops, t;
    const float **inputs;
} run_t;

void atrous_run(run_t *run, const float *x, float *out) {
    run->inputs[0] = x;
    atrous_step(run->ops, (int)run->n_ops, run->t, run->inputs, out);
    run->t++;
}

int atrous_vector_width(void) { return VL; }
int atrous_op_size(void) { return (int)sizeof(op_t); }
int atrous_run_size(void) { return (int)sizeof(run_t); }
