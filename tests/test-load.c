/* test-load.c - how model weights get into memory (core/file.h, medge_model_params): the 2 MB-page
 * mapping gives the file's exact bytes (also after dropping a file that the page cache holds in
 * small pages: a file just written), plain and huge-page loads of a model give bit-identical
 * logits, and every load mode frees what it took. */
#include "test.h"
#include "core/file.h"
#include "medge.h"

#include <stdint.h>

#define TINY_REL "gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.gguf"

static void test_map_huge_bytes(void)
{
    /* 5 MB and a bit: two whole 2 MB regions and a tail */
    const size_t n = (5u << 20) + 123;
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL);
    if (!buf)
        return;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    const char *path = test_tmp("test-load-pattern.bin");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) {
        free(buf);
        return;
    }
    CHECK(fwrite(buf, 1, n, f) == n);
    CHECK(fclose(f) == 0);
    /* twice: the first map finds the new file's pages cached small (and may drop them), the second
     * whatever the first left */
    for (int round = 0; round < 2; round++) {
        medge_map m;
        CHECK_OK(medge_map_file_huge(path, &m));
        CHECK_EQ_INT(m.size, n);
        CHECK(m.data != NULL && memcmp(m.data, buf, n) == 0);
        if (m.data && medge_huge_pages_available() && !getenv("MEDGE_NO_MMAP"))
            CHECK_EQ_INT((uintptr_t)m.data % (2u << 20), 0); /* 2 MB-aligned for the kernel's 2 MB entries */
        int64_t hb = medge_map_huge_bytes(&m);
        CHECK(hb >= -1 && hb <= (int64_t)n);
        medge_unmap(&m);
        CHECK(m.data == NULL && m.size == 0);
    }
    remove(path);
    free(buf);
    /* errors keep their codes */
    medge_map m;
    CHECK(medge_map_file_huge(test_tmp("no-such-file.gguf"), &m) == MEDGE_ERR_NOT_FOUND);
    /* an empty file: no data, nothing to free */
    path = test_tmp("test-load-empty.bin");
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK_OK(medge_map_file_huge(path, &m));
    CHECK_EQ_INT(m.size, 0);
    medge_unmap(&m);
    remove(path);
}

static void test_model_modes(void)
{
    const int32_t ids[] = {2, 105, 236, 107, 818, 114, 563, 496, 91, 231, 106, 107};
    const int n = (int)(sizeof ids / sizeof ids[0]);
    medge_model_params mp[3] = {medge_model_default_params(), medge_model_default_params(),
                                medge_model_default_params()};
    CHECK_EQ_INT(mp[0].huge_pages, 1);
    CHECK_EQ_INT(mp[0].use_mmap, 1);
    mp[1].huge_pages = 0; /* plain mapping */
    mp[2].use_mmap = 0;   /* read into memory */
    float *logits[3] = {NULL, NULL, NULL};
    int nv = 0;
    for (int i = 0; i < 3; i++) {
        medge_model *m = NULL;
        CHECK_OK(medge_model_load(test_ref(TINY_REL), mp[i], &m));
        if (!m)
            continue;
        medge_session_params sp = medge_session_default_params();
        sp.n_ctx = 64;
        sp.n_threads = 2;
        medge_session *s = NULL;
        CHECK_OK(medge_session_new(m, sp, &s));
        if (s) {
            for (int t = 0; t < n; t++) /* token by token: the single-token path */
                CHECK_OK(medge_session_eval(s, &ids[t], 1));
            nv = medge_model_n_vocab(m);
            logits[i] = malloc((size_t)nv * sizeof(float));
            if (logits[i])
                memcpy(logits[i], medge_session_logits(s), (size_t)nv * sizeof(float));
        }
        medge_session_free(s);
        medge_model_free(m);
    }
    CHECK(nv > 0);
    for (int i = 1; i < 3; i++)
        CHECK(logits[0] && logits[i] && memcmp(logits[0], logits[i], (size_t)nv * sizeof(float)) == 0);
    int finite = logits[0] != NULL, nonzero = 0;
    for (int j = 0; logits[0] && j < nv; j++) {
        finite &= isfinite(logits[0][j]) != 0;
        nonzero += logits[0][j] != 0.0f;
    }
    CHECK(finite && nonzero > nv / 2);
    for (int i = 0; i < 3; i++)
        free(logits[i]);
    /* a missing file fails the same way in every mode */
    medge_model *m = NULL;
    CHECK(medge_model_load(test_tmp("no-such-model.gguf"), mp[0], &m) == MEDGE_ERR_NOT_FOUND && m == NULL);
    CHECK(medge_model_load(test_tmp("no-such-model.gguf"), mp[1], &m) == MEDGE_ERR_NOT_FOUND && m == NULL);
}

int main(void)
{
    test_map_huge_bytes();
    test_model_modes();
    TEST_END();
}
