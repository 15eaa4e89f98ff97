/* cmd-vision.c - `medge vision`: encode an image with a Gemma 3 / MedGemma mmproj alone (no text
 * model), timing each run (wall and CPU time, peak RSS), and optionally write the embeddings or
 * compare them with saved ones (cosine, max |diff|): the vision encoder's speed and fidelity
 * check (bench/vision.md). */
#include "tool.h"
#include "codec/codecs.h"
#include "ops/kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: medge vision --mmproj MMPROJ.gguf [options]\n\n"
            "Encode one image with the vision tower + projector of an mmproj GGUF (Gemma 3 / MedGemma,\n"
            "llama.cpp's or medge's) and print the time of each run, the median, the CPU time and the peak\n"
            "resident memory. Without --image a fixed synthetic image of the encoder's input size is used.\n\n"
            "  --mmproj FILE      the vision encoder (required)\n"
            "  --image FILE       image to encode (PNG, JPEG, PPM/PGM, DICOM)\n"
            "  -t, --threads N    threads (default: all cores)\n"
            "  -r, --repeat N     encode N times (default 1) and report the median\n"
            "  -o, --out FILE     write the embeddings: int32 n_tokens, int32 n_embd, then n_tokens x n_embd\n"
            "                     float32 (the layout of llama.cpp-derived .embd reference files)\n"
            "  --compare FILE     compare the embeddings with such a file: cosine similarity of the whole\n"
            "                     (flattened) output, the smallest per-token cosine and the max |diff|\n"
            "  -v, --verbose      log loading details\n");
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads an .embd file; NULL (message printed) when it is missing or malformed. */
static float *read_embd(const char *path, int *nt, int *ne)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "medge vision: cannot open %s\n", path);
        return NULL;
    }
    int32_t hdr[2] = {0, 0};
    float *d = NULL;
    if (fread(hdr, 4, 2, f) == 2 && hdr[0] > 0 && hdr[1] > 0 && hdr[0] <= 1 << 16 && hdr[1] <= 1 << 20) {
        size_t n = (size_t)hdr[0] * (size_t)hdr[1];
        d = malloc(sizeof(float) * n);
        if (d && fread(d, 4, n, f) != n) {
            free(d);
            d = NULL;
        }
    }
    fclose(f);
    if (!d)
        fprintf(stderr, "medge vision: %s is not an embeddings file (int32 n_tokens, int32 n_embd, floats)\n", path);
    *nt = hdr[0];
    *ne = hdr[1];
    return d;
}

static int compare(const float *e, int nt, int ne, const char *path)
{
    int rt = 0, re = 0;
    float *ref = read_embd(path, &rt, &re);
    if (!ref)
        return 1;
    if (rt != nt || re != ne) {
        fprintf(stderr, "medge vision: %s holds %d x %d embeddings, the encoder gives %d x %d\n", path, rt, re, nt, ne);
        free(ref);
        return 1;
    }
    double dot = 0, na = 0, nb = 0, maxd = 0, min_cos = 1;
    for (int t = 0; t < nt; t++) {
        double td = 0, ta = 0, tb = 0;
        for (int i = 0; i < ne; i++) {
            double a = e[(size_t)t * (size_t)ne + (size_t)i], b = ref[(size_t)t * (size_t)ne + (size_t)i];
            double d = fabs(a - b);
            if (!(d <= maxd))
                maxd = d;
            td += a * b;
            ta += a * a;
            tb += b * b;
        }
        double c = td / sqrt(ta * tb + 1e-300);
        if (!(c >= min_cos))
            min_cos = c;
        dot += td;
        na += ta;
        nb += tb;
    }
    printf("compare with %s: cosine %.7f, min per-token cosine %.7f, max |diff| %.3g\n", path,
           dot / sqrt(na * nb + 1e-300), min_cos, maxd);
    free(ref);
    return 0;
}

static int run(int argc, char **argv)
{
    const char *mmproj = NULL, *image = NULL, *out = NULL, *ref = NULL;
    int verbose = 0, repeat = 1;
    medge_vision_params vp = medge_vision_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--mmproj") || !strcmp(a, "--image") || !strcmp(a, "-t") || !strcmp(a, "--threads") ||
                   !strcmp(a, "-r") || !strcmp(a, "--repeat") || !strcmp(a, "-o") || !strcmp(a, "--out") ||
                   !strcmp(a, "--compare")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "medge vision: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--mmproj"))
                mmproj = v;
            else if (!strcmp(a, "--image"))
                image = v;
            else if (!strcmp(a, "-o") || !strcmp(a, "--out"))
                out = v;
            else if (!strcmp(a, "--compare"))
                ref = v;
            else if (!strcmp(a, "-r") || !strcmp(a, "--repeat")) {
                repeat = atoi(v);
                if (repeat < 1 || repeat > 1000) {
                    fprintf(stderr, "medge vision: --repeat must be 1..1000\n");
                    return 2;
                }
            } else
                vp.n_threads = atoi(v);
        } else {
            fprintf(stderr, "medge vision: unknown argument '%s'\n\n", a);
            help(stderr);
            return 2;
        }
    }
    if (!mmproj) {
        fprintf(stderr, "medge vision: need --mmproj FILE\n\n");
        help(stderr);
        return 2;
    }
    tool_log_init(verbose);
    double t0 = tool_now();
    medge_vision *v = NULL;
    medge_status rc = medge_vision_load(mmproj, vp, &v);
    if (rc != MEDGE_OK)
        return tool_fail("vision", rc);
    double t_load = tool_now() - t0;
    medge_image *img = NULL;
    if (image) {
        rc = medge_codecs_load_image(image, &img);
    } else {
        /* smooth gradients plus a ring: fixed content that is not flat */
        const int S = medge_vision_image_size(v);
        uint8_t *px = malloc((size_t)S * (size_t)S * 3);
        if (!px) {
            medge_vision_free(v);
            fprintf(stderr, "medge vision: out of memory\n");
            return 1;
        }
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double dx = x - S / 2.0, dy = y - S / 2.0, r = sqrt(dx * dx + dy * dy) / S;
                uint8_t *p = px + ((size_t)y * (size_t)S + (size_t)x) * 3;
                p[0] = (uint8_t)(255.0 * x / S);
                p[1] = (uint8_t)(255.0 * y / S);
                p[2] = (uint8_t)(127.5 + 127.5 * cos(40.0 * r));
            }
        rc = medge_image_from_pixels(px, S, S, 3, 0, &img);
        free(px);
    }
    if (rc != MEDGE_OK) {
        medge_vision_free(v);
        return tool_fail("vision", rc);
    }
    const int nt = medge_vision_n_tokens(v), ne = medge_vision_n_embd(v);
    float *e = malloc(sizeof(float) * (size_t)nt * (size_t)ne);
    double *wall = malloc(sizeof(double) * (size_t)repeat), *cpu = malloc(sizeof(double) * (size_t)repeat);
    int status = 0;
    if (!e || !wall || !cpu) {
        fprintf(stderr, "medge vision: out of memory\n");
        status = 1;
    }
    for (int r = 0; r < repeat && !status; r++) {
        double w0 = tool_now(), c0 = cpu_seconds();
        rc = medge_vision_encode(v, img, e);
        wall[r] = tool_now() - w0;
        cpu[r] = cpu_seconds() - c0;
        if (rc != MEDGE_OK) {
            status = tool_fail("vision", rc);
            break;
        }
        printf("run %d: %.2f s wall, %.2f s CPU\n", r + 1, wall[r], cpu[r]);
        fflush(stdout);
    }
    if (!status) {
        qsort(wall, (size_t)repeat, sizeof *wall, cmp_double);
        qsort(cpu, (size_t)repeat, sizeof *cpu, cmp_double);
        printf("%s: %d tokens of %d, load %.2f s, encode median %.2f s wall (best %.2f), median %.2f s CPU, "
               "peak RSS %.0f MiB, kernels %s\n",
               mmproj, nt, ne, t_load, wall[repeat / 2], wall[0], cpu[repeat / 2], tool_peak_rss() / 1048576.0,
               ops_kernels_get()->name);
        if (out) {
            FILE *f = fopen(out, "wb");
            int32_t hdr[2] = {nt, ne};
            if (!f || fwrite(hdr, 4, 2, f) != 2 || fwrite(e, sizeof(float), (size_t)nt * (size_t)ne, f) !=
                                                        (size_t)nt * (size_t)ne) {
                fprintf(stderr, "medge vision: cannot write %s\n", out);
                status = 1;
            }
            if (f && fclose(f) != 0 && !status) {
                fprintf(stderr, "medge vision: cannot write %s\n", out);
                status = 1;
            }
        }
        if (ref && !status)
            status = compare(e, nt, ne, ref);
    }
    free(e);
    free(wall);
    free(cpu);
    medge_image_free(img);
    medge_vision_free(v);
    return status;
}

const struct medge_cmd medge_cmd_vision = {"vision", "encode an image with an mmproj alone: time, memory, fidelity",
                                           run};
