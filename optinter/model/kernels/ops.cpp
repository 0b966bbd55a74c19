/* Fused CPU kernels for the OptInter supernet and LazyAdam, registered as typed PyTorch
 * operators (torch.ops.optinter.*; schemas below, fake kernels in native.py).
 *
 * Why fused: on CPU the supernet's cost beside the MLP is memory traffic, and every PyTorch op
 * is one more pass over [batch, pairs, s2] tensors. These kernels make one pass each: the
 * mixing forward gathers the cross rows straight into the MLP input (keeping a copy in batch
 * order), its backward reads that copy sequentially instead of the table at random, and
 * LazyAdam sums duplicate rows and applies Adam in place, with no gather / scatter copies of
 * the parameter and moments.
 *
 * Why operators with checks: every pointer the loops dereference comes from a tensor whose
 * dtype, device, shape and layout are checked first (and every index read from memory is
 * range-checked), so a wrong argument raises instead of corrupting memory.
 *
 * Threads come from OpenMP (torch's own libgomp team, so the kernels never compete with
 * spinning torch workers). Results never depend on the number of threads: the batch is cut
 * into fixed chunks with their own partial sums, added in chunk order, and each table row is
 * owned by one thread, which sums that row's gradients in occurrence order.
 */
#include <torch/library.h>
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PREFETCH_AHEAD 8
#define ROW(T, off, cr, p, s) ((T) + ((off)[p] + (cr)[p]) * (s))

namespace {

using at::Tensor;

int64_t n_chunks(int64_t n, int64_t chunk) { return (n + chunk - 1) / chunk; }

void check(const Tensor &t, const char *name, at::ScalarType dtype, int64_t dim) {
    TORCH_CHECK(t.device().is_cpu(), name, ": expected a CPU tensor, got ", t.device());
    TORCH_CHECK(t.scalar_type() == dtype, name, ": expected ", dtype, ", got ", t.scalar_type());
    TORCH_CHECK(t.dim() == dim, name, ": expected ", dim, " dimensions, got shape ", t.sizes());
}

/* dtype, dimensions and a dense row-major layout (what the loops below index) */
void check_dense(const Tensor &t, const char *name, at::ScalarType dtype, int64_t dim) {
    check(t, name, dtype, dim);
    TORCH_CHECK(t.is_contiguous(), name, ": expected a contiguous tensor");
}

void check_size(const Tensor &t, const char *name, int64_t d, int64_t want) {
    TORCH_CHECK(t.size(d) == want, name, ": expected size ", want, " in dimension ", d,
                ", got shape ", t.sizes());
}

void check_vector(const Tensor &t, const char *name, at::ScalarType dtype, int64_t n) {
    check_dense(t, name, dtype, 1);
    check_size(t, name, 0, n);
}

/* [R, s] float rows of adjacent elements, possibly further apart than s (a half of [R, 2 s]) */
void check_rows(const Tensor &t, const char *name, int64_t R, int64_t s) {
    check(t, name, at::kFloat, 2);
    check_size(t, name, 0, R);
    check_size(t, name, 1, s);
    TORCH_CHECK(t.stride(1) == 1 && t.stride(0) >= s, name, ": expected rows of ", s,
                " adjacent floats, got strides ", t.strides());
}

/* pair_i, pair_j: [P] field indices in [0, C), distinct per pair (the backward writes both
 * rows through restrict pointers) */
void check_pairs(const Tensor &pi, const Tensor &pj, int64_t P, int64_t C) {
    check_vector(pi, "pair_i", at::kLong, P);
    check_vector(pj, "pair_j", at::kLong, P);
    const int64_t *a = pi.data_ptr<int64_t>(), *b = pj.data_ptr<int64_t>();
    for (int64_t p = 0; p < P; p++)
        TORCH_CHECK(a[p] >= 0 && a[p] < C && b[p] >= 0 && b[p] < C && a[p] != b[p],
                    "pair ", p, ": fields (", a[p], ", ", b[p], ") are not two distinct of ", C);
}

/* First flat position b * P + p with cross[b, p] outside [0, vocab[p]), or -1. */
int64_t first_bad_id(int64_t B, int64_t P, const int64_t *cross, const int64_t *vocab) {
    int64_t first = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : first)
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++)
            if ((uint64_t)cross[b * P + p] >= (uint64_t)vocab[p] && b * P + p < first)
                first = b * P + p;
    return first == INT64_MAX ? -1 : first;
}

/* out[b, d_o + p*s + k] = w_m[p] * T[(offsets[p] + cross[b, p]) * s + k]
 *                       + w_f[p] * x[b, pair_i[p], k] * x[b, pair_j[p], k]       (Eq. 18)
 * for all B rows; x is [B, C, s], out [B, D] (columns before d_o are left alone). The gathered
 * rows are also copied to em[B * P, s], so that the backward reads them in order instead of
 * at random again (at tens of millions of rows each random read is a cache miss). */
void mix_forward(const Tensor &table, const Tensor &offsets, const Tensor &vocab,
                 const Tensor &cross, const Tensor &x, const Tensor &pair_i,
                 const Tensor &pair_j, const Tensor &w_m, const Tensor &w_f, int64_t d_o,
                 const Tensor &out, const Tensor &em) {
    check_dense(table, "table", at::kFloat, 2);
    check_dense(cross, "cross", at::kLong, 2);
    check_dense(x, "x", at::kFloat, 3);
    const int64_t R = table.size(0), s = table.size(1), B = cross.size(0), P = cross.size(1),
                  C = x.size(1);
    check_size(x, "x", 0, B);
    check_size(x, "x", 2, s);
    check_pairs(pair_i, pair_j, P, C);
    check_vector(offsets, "offsets", at::kLong, P);
    check_vector(vocab, "vocab", at::kLong, P);
    check_vector(w_m, "w_m", at::kFloat, P);
    check_vector(w_f, "w_f", at::kFloat, P);
    check_dense(out, "out", at::kFloat, 2);
    check_size(out, "out", 0, B);
    const int64_t D = out.size(1);
    TORCH_CHECK(d_o >= 0 && d_o + P * s <= D, "out: ", D, " columns cannot hold d_o = ", d_o,
                " plus ", P, " pairs of ", s);
    check_dense(em, "em", at::kFloat, 2);
    check_size(em, "em", 0, B * P);
    check_size(em, "em", 1, s);
    const int64_t *off = offsets.data_ptr<int64_t>(), *voc = vocab.data_ptr<int64_t>();
    for (int64_t p = 0; p < P; p++)
        TORCH_CHECK(off[p] >= 0 && voc[p] >= 0 && off[p] + voc[p] <= R, "pair ", p,
                    ": rows [", off[p], ", ", off[p] + voc[p], ") outside the table's ", R);
    const int64_t *cr_all = cross.data_ptr<int64_t>();
    const int64_t bad = first_bad_id(B, P, cr_all, voc);
    TORCH_CHECK_INDEX(bad < 0, "cross id ", bad < 0 ? 0 : cr_all[bad], " of pair column ",
                      bad % P, " is outside its vocabulary of ", voc[bad < 0 ? 0 : bad % P],
                      " rows");
    const float *T = table.data_ptr<float>(), *xs = x.data_ptr<float>();
    const float *wm = w_m.data_ptr<float>(), *wf = w_f.data_ptr<float>();
    const int64_t *pi = pair_i.data_ptr<int64_t>(), *pj = pair_j.data_ptr<int64_t>();
    float *outp = out.data_ptr<float>(), *emp = em.data_ptr<float>();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const int64_t *cr = cr_all + b * P;
        for (int64_t p = 0; p < PREFETCH_AHEAD && p < P; p++)
            __builtin_prefetch(ROW(T, off, cr, p, s));
        const float *xb = xs + b * C * s;
        float *o = outp + b * D + d_o;
        for (int64_t p = 0; p < P; p++) {
            if (p + PREFETCH_AHEAD < P) __builtin_prefetch(ROW(T, off, cr, p + PREFETCH_AHEAD, s));
            const float *__restrict__ t = ROW(T, off, cr, p, s);
            const float *__restrict__ xi = xb + pi[p] * s, *__restrict__ xj = xb + pj[p] * s;
            const float a = wm[p], f = wf[p];
            float *__restrict__ op = o + p * s, *__restrict__ e = emp + (b * P + p) * s;
            for (int64_t k = 0; k < s; k++) {
                e[k] = t[k];
                op[k] = a * t[k] + f * (xi[k] * xj[k]);
            }
        }
    }
}

/* Backward of mix_forward, given g_out = dL/d out (only columns d_o.. are read) and the rows
 * em that the forward gathered:
 *   g_em[b*P + p, k] = w_m[p] * g                                  (sparse values of dL/dT)
 *   g_x[b, pair_i[p]] += w_f[p] * g * x[b, pair_j[p]], and symmetrically  (zeroed by caller)
 *   g_w[0, p] = sum over b of <g, em row>, g_w[1, p] of <g, x_i * x_j>
 * The weight gradients are summed per chunk of `chunk` batch rows, then over chunks in
 * order, so they do not depend on the number of threads. */
void mix_backward(const Tensor &em, const Tensor &x, const Tensor &pair_i, const Tensor &pair_j,
                  const Tensor &w_m, const Tensor &w_f, const Tensor &g_out, int64_t d_o,
                  int64_t chunk, const Tensor &g_w, const std::optional<Tensor> &g_em,
                  const std::optional<Tensor> &g_x) {
    check_dense(x, "x", at::kFloat, 3);
    check_dense(w_m, "w_m", at::kFloat, 1);
    const int64_t B = x.size(0), C = x.size(1), s = x.size(2), P = w_m.size(0);
    check_vector(w_f, "w_f", at::kFloat, P);
    check_pairs(pair_i, pair_j, P, C);
    check_dense(em, "em", at::kFloat, 2);
    check_size(em, "em", 0, B * P);
    check_size(em, "em", 1, s);
    check_dense(g_out, "g_out", at::kFloat, 2);
    check_size(g_out, "g_out", 0, B);
    const int64_t D = g_out.size(1);
    TORCH_CHECK(d_o >= 0 && d_o + P * s <= D, "g_out: ", D, " columns cannot hold d_o = ",
                d_o, " plus ", P, " pairs of ", s);
    TORCH_CHECK(chunk > 0, "chunk: expected > 0, got ", chunk);
    check_dense(g_w, "g_w", at::kDouble, 2);
    check_size(g_w, "g_w", 0, 2);
    check_size(g_w, "g_w", 1, P);
    if (g_em) {
        check_dense(*g_em, "g_em", at::kFloat, 2);
        check_size(*g_em, "g_em", 0, B * P);
        check_size(*g_em, "g_em", 1, s);
    }
    if (g_x) {
        check_dense(*g_x, "g_x", at::kFloat, 3);
        TORCH_CHECK(g_x->sizes() == x.sizes(), "g_x: expected shape ", x.sizes(), ", got ",
                    g_x->sizes());
    }
    const int64_t nc = n_chunks(B, chunk);
    std::vector<double> part_v((size_t)(nc * 2 * P));
    double *part = part_v.data();
    const float *emp = em.data_ptr<float>(), *xs = x.data_ptr<float>();
    const float *wm = w_m.data_ptr<float>(), *wf = w_f.data_ptr<float>();
    const float *go = g_out.data_ptr<float>();
    const int64_t *pi = pair_i.data_ptr<int64_t>(), *pj = pair_j.data_ptr<int64_t>();
    float *gem = g_em ? g_em->data_ptr<float>() : nullptr;
    float *gx = g_x ? g_x->data_ptr<float>() : nullptr;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        double *g_wm = part + c * 2 * P, *g_wf = g_wm + P;
        for (int64_t q = 0; q < 2 * P; q++) g_wm[q] = 0.0;
        const int64_t b1 = (c + 1) * chunk < B ? (c + 1) * chunk : B;
        for (int64_t b = c * chunk; b < b1; b++) {
            const float *xb = xs + b * C * s;
            float *gxb = gx ? gx + b * C * s : nullptr;
            const float *g = go + b * D + d_o;
            for (int64_t p = 0; p < P; p++) {
                const float *__restrict__ t = emp + (b * P + p) * s;
                const float *__restrict__ xi = xb + pi[p] * s, *__restrict__ xj = xb + pj[p] * s;
                const float *__restrict__ gp = g + p * s;
                const float a = wm[p], f = wf[p];
                float dm = 0.f, df = 0.f;
                for (int64_t k = 0; k < s; k++) {
                    dm += gp[k] * t[k];
                    df += gp[k] * (xi[k] * xj[k]);
                }
                g_wm[p] += dm;
                g_wf[p] += df;
                if (gem) {
                    float *__restrict__ ge = gem + (b * P + p) * s;
                    for (int64_t k = 0; k < s; k++) ge[k] = a * gp[k];
                }
                if (gxb) {
                    float *__restrict__ gi = gxb + pi[p] * s, *__restrict__ gj = gxb + pj[p] * s;
                    for (int64_t k = 0; k < s; k++) {
                        const float gf = f * gp[k];
                        gi[k] += gf * xj[k];
                        gj[k] += gf * xi[k];
                    }
                }
            }
        }
    }
    double *gw = g_w.data_ptr<double>();
    for (int64_t q = 0; q < 2 * P; q++) {
        double sum = 0.0;
        for (int64_t c = 0; c < nc; c++) sum += part[c * 2 * P + q];
        gw[q] = sum;
    }
}

/* Adam with coupled L2 (the maths of torch.optim.Adam) on the rows of param, exp_avg,
 * exp_avg_sq ([R, s]) that appear in rows[n], each with the sum of its gradient rows
 * values[k, :] (summed in occurrence order). step_size = lr / (1 - beta1^t),
 * bc2_sqrt = sqrt(1 - beta2^t); 1 - beta1 and 1 - beta2 come from the caller, computed in
 * double (1.f - 0.999f is 1.3e-5 off). The moments may be the two halves of one [R, 2 s]
 * tensor (rows 2 s floats apart, sharing cache lines).
 * Scratch from the caller, reused between calls (fresh pages would cost more than the update):
 * seen[ceil(R / 64)] all zero on entry and on return; slot[R] never cleared (read only where
 * seen has the row's bit); acc[n, s].
 * Thread t owns a contiguous, 64-aligned stretch of rows. It sums the gradients of its rows
 * into its own stretch of acc, then walks its part of the bitmap in row order, so the rows
 * are read and written in ascending order rather than at random. */
void lazy_adam(const Tensor &rows, const Tensor &values, const Tensor &seen_t,
               const Tensor &slot_t, const Tensor &acc_t, const Tensor &param,
               const Tensor &exp_avg, const Tensor &exp_avg_sq, double step_size_d,
               double beta2_d, double one_minus_beta1_d, double one_minus_beta2_d, double eps_d,
               double weight_decay_d, double bc2_sqrt_d) {
    check_dense(rows, "rows", at::kLong, 1);
    check_dense(values, "values", at::kFloat, 2);
    check_dense(param, "param", at::kFloat, 2);
    const int64_t n = rows.size(0), s = values.size(1), R = param.size(0);
    check_size(values, "values", 0, n);
    check_size(param, "param", 1, s);
    TORCH_CHECK(n < ((int64_t)1 << 31), "rows: ", n, " entries overflow the int32 slots");
    check_rows(exp_avg, "exp_avg", R, s);
    check_rows(exp_avg_sq, "exp_avg_sq", R, s);
    TORCH_CHECK(exp_avg.stride(0) == exp_avg_sq.stride(0), "exp_avg and exp_avg_sq: expected "
                "equal row strides, got ", exp_avg.stride(0), " and ", exp_avg_sq.stride(0));
    const int64_t words = (R + 63) / 64;
    check_dense(seen_t, "seen", at::kLong, 1);
    check_size(seen_t, "seen", 0, words);
    check_dense(slot_t, "slot", at::kInt, 1);
    check_size(slot_t, "slot", 0, R);
    check_dense(acc_t, "acc", at::kFloat, 2);
    check_size(acc_t, "acc", 0, n);
    check_size(acc_t, "acc", 1, s);
    const int64_t *raw = rows.data_ptr<int64_t>();
    uint64_t *seen = reinterpret_cast<uint64_t *>(seen_t.data_ptr<int64_t>());
    int64_t first = INT64_MAX, set_words = 0;
#pragma omp parallel for schedule(static) reduction(min : first)
    for (int64_t k = 0; k < n; k++)
        if ((uint64_t)raw[k] >= (uint64_t)R && k < first) first = k;
    TORCH_CHECK_INDEX(first == INT64_MAX, "sparse gradient row ",
                      first == INT64_MAX ? 0 : raw[first], " outside the table's ", R, " rows");
    // a stale bit would send a row to a slot of another call: refuse instead
#pragma omp parallel for schedule(static) reduction(+ : set_words)
    for (int64_t w = 0; w < words; w++) set_words += seen[w] != 0;
    TORCH_CHECK(set_words == 0, "seen: expected all zero on entry");
    const float step_size = (float)step_size_d, beta2 = (float)beta2_d,
                one_minus_beta1 = (float)one_minus_beta1_d,
                one_minus_beta2 = (float)one_minus_beta2_d, eps = (float)eps_d,
                weight_decay = (float)weight_decay_d, bc2_sqrt = (float)bc2_sqrt_d;
    const int64_t mv_stride = exp_avg.stride(0);
    const float *vals = values.data_ptr<float>();
    int32_t *slot = slot_t.data_ptr<int32_t>();
    float *acc_all = acc_t.data_ptr<float>(), *p = param.data_ptr<float>();
    float *m = exp_avg.data_ptr<float>(), *v = exp_avg_sq.data_ptr<float>();
    int64_t max_threads = 1;
#ifdef _OPENMP
    max_threads = omp_get_max_threads();
#endif
    std::vector<int64_t> counts_v((size_t)max_threads);
    int64_t *counts = counts_v.data();
#pragma omp parallel
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
                std::memcpy(acc + nu * s, vk, (size_t)s * sizeof(float));
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
                float *__restrict__ pr = p + r * s, *__restrict__ mr = m + r * mv_stride,
                                   *__restrict__ vr = v + r * mv_stride;
                const float *__restrict__ g = acc + (int64_t)slot[r] * s;
                for (int64_t k = 0; k < s; k++) {
                    const float gk = g[k] + weight_decay * pr[k];
                    mr[k] += one_minus_beta1 * (gk - mr[k]);
                    vr[k] = beta2 * vr[k] + one_minus_beta2 * gk * gk;
                    pr[k] -= step_size * mr[k] / (std::sqrt(vr[k]) * inv_bc2 + eps);
                }
            }
        }
    }
}

}  // namespace

TORCH_LIBRARY(optinter, m) {
    m.def("mix_forward(Tensor table, Tensor offsets, Tensor vocab, Tensor cross, Tensor x, "
          "Tensor pair_i, Tensor pair_j, Tensor w_m, Tensor w_f, int d_o, Tensor(a!) out, "
          "Tensor(b!) em) -> ()");
    m.def("mix_backward(Tensor em, Tensor x, Tensor pair_i, Tensor pair_j, Tensor w_m, "
          "Tensor w_f, Tensor g_out, int d_o, int chunk, Tensor(a!) g_w, Tensor(b!)? g_em, "
          "Tensor(c!)? g_x) -> ()");
    m.def("lazy_adam(Tensor rows, Tensor values, Tensor(a!) seen, Tensor(b!) slot, "
          "Tensor(c!) acc, Tensor(d!) param, Tensor(e!) exp_avg, Tensor(f!) exp_avg_sq, "
          "float step_size, float beta2, float one_minus_beta1, float one_minus_beta2, "
          "float eps, float weight_decay, float bc2_sqrt) -> ()");
}

TORCH_LIBRARY_IMPL(optinter, CPU, m) {
    m.impl("mix_forward", &mix_forward);
    m.impl("mix_backward", &mix_backward);
    m.impl("lazy_adam", &lazy_adam);
}
