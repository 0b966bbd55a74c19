/* Fused CPU kernels for the OptInter supernet and LazyAdam (float32, row-major, contiguous).
 *
 * Why C: on CPU the supernet's cost beside the MLP is memory traffic, and every PyTorch op is
 * one more pass over [batch, pairs, s2] tensors. These kernels make one pass each: the mixing
 * forward gathers the cross rows straight into the MLP input (keeping a copy in batch order),
 * its backward reads that copy sequentially instead of the table at random, and LazyAdam sums
 * duplicate rows and applies Adam in place, with no gather / scatter copies of the parameter
 * and moments.
 *
 * Threads come from OpenMP (torch's own libgomp team when loaded into a torch process, so the
 * kernels never compete with spinning torch workers); without -fopenmp they run serially.
 * Results never depend on the number of threads: the batch is cut into fixed chunks with their
 * own partial sums, added in chunk order, and each table row is owned by one thread, which sums
 * that row's gradients in occurrence order.
 * Functions that read ids return 0, or -1 - k for the first out-of-range id at flat position k.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PREFETCH_AHEAD 8
#define ROW(T, off, cr, p, s) ((T) + ((off)[p] + (cr)[p]) * (s))

static int64_t n_chunks(int64_t n, int64_t chunk) { return (n + chunk - 1) / chunk; }

/* First flat position b * P + p with cross[b, p] outside [0, vocab[p]), or -1. */
static int64_t first_bad_id(int64_t B, int64_t P, const int64_t *cross, const int64_t *vocab) {
    int64_t first = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : first)
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++)
            if ((uint64_t)cross[b * P + p] >= (uint64_t)vocab[p] && b * P + p < first)
                first = b * P + p;
    return first == INT64_MAX ? -1 : first;
}

/* out[b, d_o + p*s + k] = wm[p] * T[(off[p] + cross[b, p]) * s + k]
 *                       + wf[p] * x[b, pi[p], k] * x[b, pj[p], k]                 (Eq. 18)
 * for all B rows; x is [B, C, s], out [B, D]. The gathered rows are also copied to
 * em[B * P, s], so that the backward reads them in order instead of at random again (at
 * tens of millions of rows each random read is a cache miss). */
int64_t mix_forward(int64_t B, int64_t P, int64_t s, int64_t C, int64_t D, int64_t d_o,
                    const float *T, const int64_t *off, const int64_t *vocab,
                    const int64_t *cross, const float *x, const int64_t *pi, const int64_t *pj,
                    const float *wm, const float *wf, float *out, float *em) {
    const int64_t bad = first_bad_id(B, P, cross, vocab);
    if (bad >= 0) return -1 - bad;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const int64_t *cr = cross + b * P;
        for (int64_t p = 0; p < PREFETCH_AHEAD && p < P; p++) __builtin_prefetch(ROW(T, off, cr, p, s));
        const float *xb = x + b * C * s;
        float *o = out + b * D + d_o;
        for (int64_t p = 0; p < P; p++) {
            if (p + PREFETCH_AHEAD < P) __builtin_prefetch(ROW(T, off, cr, p + PREFETCH_AHEAD, s));
            const float *restrict t = ROW(T, off, cr, p, s);
            const float *restrict xi = xb + pi[p] * s, *restrict xj = xb + pj[p] * s;
            const float a = wm[p], f = wf[p];
            float *restrict op = o + p * s, *restrict e = em + (b * P + p) * s;
            for (int64_t k = 0; k < s; k++) {
                e[k] = t[k];
                op[k] = a * t[k] + f * (xi[k] * xj[k]);
            }
        }
    }
    return 0;
}

/* Backward of mix_forward, given g = dL/d out (only columns d_o.. are read) and the rows em
 * that the forward gathered:
 *   g_em[b*P + p, k] = wm[p] * g                            (sparse values of dL/dT; may be NULL)
 *   g_x[b, pi[p]] += wf[p] * g * x[b, pj[p]], and symmetrically      (zeroed by caller; may be NULL)
 *   g_w[0, p] = sum over b of <g, em row>, g_w[1, p] of <g, x_i * x_j>
 * The weight gradients are summed per chunk of `chunk` batch rows into part[n_chunks, 2, P]
 * (scratch), then over chunks in order, so they do not depend on the number of threads. */
void mix_backward(int64_t B, int64_t chunk, int64_t P, int64_t s, int64_t C, int64_t D,
                  int64_t d_o, const float *em, const float *x, const int64_t *pi,
                  const int64_t *pj, const float *wm, const float *wf, const float *g_out,
                  float *g_em, float *g_x, double *part, double *g_w) {
    const int64_t nc = n_chunks(B, chunk);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        double *g_wm = part + c * 2 * P, *g_wf = g_wm + P;
        for (int64_t q = 0; q < 2 * P; q++) g_wm[q] = 0.0;
        const int64_t b1 = (c + 1) * chunk < B ? (c + 1) * chunk : B;
        for (int64_t b = c * chunk; b < b1; b++) {
            const float *xb = x + b * C * s;
            float *gxb = g_x ? g_x + b * C * s : NULL;
            const float *g = g_out + b * D + d_o;
            for (int64_t p = 0; p < P; p++) {
                const float *restrict t = em + (b * P + p) * s;
                const float *restrict xi = xb + pi[p] * s, *restrict xj = xb + pj[p] * s;
                const float *restrict gp = g + p * s;
                const float a = wm[p], f = wf[p];
                float dm = 0.f, df = 0.f;
                for (int64_t k = 0; k < s; k++) {
                    dm += gp[k] * t[k];
                    df += gp[k] * (xi[k] * xj[k]);
                }
                g_wm[p] += dm;
                g_wf[p] += df;
                if (g_em) {
                    float *restrict ge = g_em + (b * P + p) * s;
                    for (int64_t k = 0; k < s; k++) ge[k] = a * gp[k];
                }
                if (gxb) {
                    /* pi[p] != pj[p]: the two rows never overlap */
                    float *restrict gi = gxb + pi[p] * s, *restrict gj = gxb + pj[p] * s;
                    for (int64_t k = 0; k < s; k++) {
                        const float gf = f * gp[k];
                        gi[k] += gf * xj[k];
                        gj[k] += gf * xi[k];
                    }
                }
            }
        }
    }
    for (int64_t q = 0; q < 2 * P; q++) {
        double sum = 0.0;
        for (int64_t c = 0; c < nc; c++) sum += part[c * 2 * P + q];
        g_w[q] = sum;
    }
}

/* Adam with coupled L2 (the maths of torch.optim.Adam) on the rows of p, m, v ([R, s]) that
 * appear in raw[n], each with the sum of its gradient rows vals[k, :] (summed in occurrence
 * order). step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t); 1 - beta1 and
 * 1 - beta2 come from the caller, computed in double (1.f - 0.999f is 1.3e-5 off). Rows of m and v are
 * mv_stride floats apart (2 s when they are the halves of one [R, 2 s] tensor).
 * Scratch from the caller, reused between calls (fresh pages would cost more than the update):
 * seen[ceil(R / 64)] all zero on entry and on return; slot[R] never cleared (read only where
 * seen has the row's bit); acc[n, s].
 * Thread t owns a contiguous, 64-aligned stretch of rows. It sums the gradients of its rows
 * into its own stretch of acc, then walks its part of the bitmap in row order, so p, m and v
 * are read and written in ascending row order rather than at random.
 * Returns the number of distinct rows, -1 - k for the first id out of [0, R) at position k,
 * or INT64_MIN if the per-thread counts could not be allocated. */
int64_t lazy_adam(int64_t n, int64_t s, int64_t R, const int64_t *raw, const float *vals,
                  uint64_t *seen, int32_t *slot, float *acc_all, float *p, float *m, float *v,
                  int64_t mv_stride, float step_size, float beta2, float one_minus_beta1,
                  float one_minus_beta2, float eps, float weight_decay,
                  float bc2_sqrt) {
    int64_t first = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : first)
    for (int64_t k = 0; k < n; k++)
        if ((uint64_t)raw[k] >= (uint64_t)R && k < first) first = k;
    if (first != INT64_MAX) return -1 - first;
    int64_t max_threads = 1;
#ifdef _OPENMP
    max_threads = omp_get_max_threads();
#endif
    int64_t *counts = calloc((size_t)max_threads, sizeof(int64_t));
    if (!counts) return INT64_MIN;
    const int64_t words = (R + 63) / 64;
    int64_t total = 0;
#pragma omp parallel reduction(+ : total)
    {
        int64_t nt = 1, t = 0;
#ifdef _OPENMP
        nt = omp_get_num_threads();
        t = omp_get_thread_num();
#endif
        const int64_t w0 = words * t / nt, w1 = words * (t + 1) / nt;
        const int64_t lo = w0 * 64, hi = w1 * 64;
        int64_t owned = 0;
        for (int64_t k = 0; k < n; k++) owned += raw[k] >= lo && raw[k] < hi;
        counts[t] = owned;
#pragma omp barrier
        int64_t start = 0;
        for (int64_t q = 0; q < t; q++) start += counts[q];
        float *acc = acc_all + start * s;
        int64_t nu = 0;
        for (int64_t k = 0; k < n; k++) {
            const int64_t r = raw[k];
            if (r < lo || r >= hi) continue;
            const uint64_t bit = (uint64_t)1 << (r & 63);
            const float *vk = vals + k * s;
            if (seen[r >> 6] & bit) {
                float *a = acc + (int64_t)slot[r] * s;
                for (int64_t j = 0; j < s; j++) a[j] += vk[j];
            } else {
                seen[r >> 6] |= bit;
                slot[r] = (int32_t)nu;
                memcpy(acc + nu * s, vk, (size_t)s * sizeof(float));
                nu++;
            }
        }
        const float inv_bc2 = 1.f / bc2_sqrt;
        for (int64_t w = w0; w < w1; w++) {
            uint64_t bits = seen[w];
            if (!bits) continue;
            seen[w] = 0;
            while (bits) {
                const int64_t r = w * 64 + __builtin_ctzll(bits);
                bits &= bits - 1;
                float *restrict pr = p + r * s, *restrict mr = m + r * mv_stride,
                             *restrict vr = v + r * mv_stride;
                const float *restrict g = acc + (int64_t)slot[r] * s;
                for (int64_t k = 0; k < s; k++) {
                    const float gk = g[k] + weight_decay * pr[k];
                    mr[k] += one_minus_beta1 * (gk - mr[k]);
                    vr[k] = beta2 * vr[k] + one_minus_beta2 * gk * gk;
                    pr[k] -= step_size * mr[k] / (sqrtf(vr[k]) * inv_bc2 + eps);
                }
            }
        }
        total += nu;
    }
    free(counts);
    return total;
}
