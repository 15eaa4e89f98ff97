/* i8-check.h - the check of an I8_PC product table (ops/gemm-i8.h), shared by test-biomedclip-i8.c
 * (every version an x86 CPU runs) and test-arm-kernels.c (the AArch64 tables). Include after test.h
 * with TEST_RNG_SEED defined (it draws the weights with frand()). */
#ifndef MEDGE_TESTS_I8_CHECK_H
#define MEDGE_TESTS_I8_CHECK_H
#include "ops/gemm-i8.h"
#include "quant/i8pc.h"
#include "quant/types.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* rows weight rows of n random values (row r scaled by 1 + r, every fifth row zero) quantized by
 * the reference, at a 2-byte but not 4-byte aligned address when rows is odd; nt activation rows x
 * (n values each, the caller's choice). The table packs its panels, converts the activations in two
 * ranges as two threads would, and runs its tiles: every output equals quant_i8pc_dot of the
 * reference rows bit for bit, and nothing is written past the rows. */
static void i8_check_table(const ops_i8_gemm *g, int n, int rows, int nt, const float *x)
{
    const size_t rb = quant_row_size(MEDGE_TYPE_I8_PC, n), ab = quant_i8pc_act_bytes(n);
    const int R = g->rows, npan = (rows + R - 1) / R;
    const size_t pb = (g->panel_bytes(n) + 63) / 64 * 64, ys = (size_t)rows + 2;
    float *wf = malloc(sizeof(float) * (size_t)n);
    uint8_t *w = malloc(rb * (size_t)rows + 2), *aref = malloc(ab * (size_t)nt);
    uint8_t *panels = aligned_alloc(64, pb * (size_t)npan), *act = aligned_alloc(64, (g->act_bytes(n, nt) + 63) / 64 * 64);
    float *y = malloc(sizeof(float) * ys * (size_t)nt);
    if (!wf || !w || !aref || !panels || !act || !y) {
        CHECK(0);
        goto out;
    }
    uint8_t *wr = w + 2 * (rows % 2);
    for (int r = 0; r < rows; r++) {
        const float sc = r % 5 == 4 ? 0.0f : 1.0f + (float)r;
        for (int i = 0; i < n; i++)
            wf[i] = sc * frand();
        quant_i8pc_quantize_row(wf, wr + (size_t)r * rb, n);
    }
    for (int t = 0; t < nt; t++)
        quant_i8pc_quantize_act(x + (size_t)t * (size_t)n, aref + (size_t)t * ab, n);
    for (size_t i = 0; i < ys * (size_t)nt; i++)
        y[i] = -7.0f;
    for (int p = 0; p < npan; p++)
        g->pack_w(n, rows - p * R < R ? rows - p * R : R, wr + (size_t)p * R * rb, rb, panels + (size_t)p * pb);
    const int split = nt / 2 / g->act_group * g->act_group;
    g->quantize_act(x, (size_t)n, n, 0, split, act);
    g->quantize_act(x, (size_t)n, n, split, nt, act);
    for (int p = 0; p < npan; p++)
        g->tile(n, rows - p * R < R ? rows - p * R : R, nt, panels + (size_t)p * pb, act, y + p * R, ys);
    int bad = 0;
    for (int t = 0; t < nt; t++) {
        for (int r = 0; r < rows; r++) {
            const float want = quant_i8pc_dot(n, wr + (size_t)r * rb, aref + (size_t)t * ab);
            if (!(y[(size_t)t * ys + (size_t)r] == want) && bad++ < 3)
                fprintf(stderr, "%s n=%d rows=%d tokens=%d: y[%d][%d] = %.9g, reference %.9g\n", g->name, n, rows, nt, t,
                        r, y[(size_t)t * ys + (size_t)r], want);
        }
        for (size_t r = (size_t)rows; r < ys; r++)
            bad += y[(size_t)t * ys + r] != -7.0f;
    }
    CHECK_MSG(bad == 0, "%s I8_PC n=%d rows=%d tokens=%d: %d outputs differ", g->name, n, rows, nt, bad);
out:
    free(wf);
    free(w);
    free(aref);
    free(panels);
    free(act);
    free(y);
}
#endif
