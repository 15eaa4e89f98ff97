/* cmd-convert.c - `medge convert`: a Hugging Face checkpoint directory -> GGUF, without Python.
 * The checkpoint kind is recognised from the directory's files; each kind is one `if` branch
 * in run() (Gemma 3 / MedGemma: config.json; BiomedCLIP: open_clip_config.json). */
#include "tool.h"
#include "convert/biomedclip.h"
#include "convert/gemma3.h"
#include "quant/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: medge convert HF_DIR -o OUT.gguf [options]\n"
            "\n"
            "Convert a Hugging Face checkpoint to GGUF exactly as llama.cpp's convert_hf_to_gguf.py\n"
            "does (same keys, tensor names, order, types and bytes).\n"
            "Supported: Gemma 3 / MedGemma (config.json model_type gemma3 or gemma3_text): the text\n"
            "model to OUT.gguf and, with --mmproj, the vision tower + projector to a separate file.\n"
            "Also: an open_clip BiomedCLIP checkpoint (open_clip_config.json + open_clip_pytorch_model.bin\n"
            "or open_clip_model.safetensors + vocab.txt) -> one GGUF with both towers (--outtype f32,\n"
            "the default for it, or f16 for the linear weights; quantize further with medge quantize).\n"
            "\n"
            "options:\n"
            "  -o, --outfile PATH     text model GGUF to write\n"
            "  --outtype TYPE         f32, f16 (default), bf16 or q8_0 for the weight matrices; norms,\n"
            "                         biases and embeddings of the vision tower stay F32 and the\n"
            "                         projector matrix F16, as llama.cpp does\n"
            "  --mmproj PATH          also write the vision tower + projector (mmproj) GGUF\n"
            "  --vocab-only           write only the metadata and the vocabulary (no tensors)\n"
            "  --name NAME            general.name (default: the directory's name)\n"
            "  -t, --threads N        conversion threads (default: all cores)\n"
            "  -q, --quiet            no progress on stderr\n"
            "  -h, --help             this help\n"
            "\n"
            "Outputs are written under a temporary name and renamed into place when complete; on\n"
            "failure nothing is left behind. The SHA-256 of each output file is printed.\n");
}

typedef struct progress_state {
    double t0, last;
    int quiet;
} progress_state;

static void progress(void *user, const char *tensor, uint64_t done, uint64_t total)
{
    progress_state *ps = user;
    if (ps->quiet)
        return;
    double now = tool_now();
    if (now - ps->last < 0.25 && done < total)
        return;
    ps->last = now;
    double el = now - ps->t0;
    fprintf(stderr, "\r[%5.1f%%] %.1f / %.1f MB  %.1f s  %-40.40s", total ? 100.0 * (double)done / (double)total : 100.0,
            (double)done / 1e6, (double)total / 1e6, el, tensor);
    fflush(stderr);
}

static int file_in(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static int parse_outtype(const char *s, uint32_t *t)
{
    if (!strcmp(s, "f32")) *t = GGML_TYPE_F32;
    else if (!strcmp(s, "f16")) *t = GGML_TYPE_F16;
    else if (!strcmp(s, "bf16")) *t = GGML_TYPE_BF16;
    else if (!strcmp(s, "q8_0")) *t = GGML_TYPE_Q8_0;
    else return 0;
    return 1;
}

/* BiomedCLIP branch: one GGUF with both towers (src/convert/biomedclip.c). */
static int convert_biomedclip(const gemma3_convert_params *p, int argc, char **argv, int quiet)
{
    int explicit_type = 0;
    for (int i = 1; i < argc; i++)
        explicit_type |= !strcmp(argv[i], "--outtype");
    if (!p->out_path || p->mmproj_path || p->vocab_only) {
        fprintf(stderr, "medge convert: a BiomedCLIP checkpoint needs -o (no --mmproj / --vocab-only)\n");
        return 2;
    }
    if (explicit_type && p->outtype != GGML_TYPE_F32 && p->outtype != GGML_TYPE_F16) {
        fprintf(stderr, "medge convert: BiomedCLIP --outtype is f32 or f16 (then `medge quantize`)\n");
        return 2;
    }
    bmc_convert_opts o = {explicit_type && p->outtype == GGML_TYPE_F16, p->name};
    double t0 = tool_now();
    medge_status rc = bmc_convert(p->hf_dir, p->out_path, &o);
    if (rc != MEDGE_OK)
        return tool_fail("convert", rc);
    printf("%s  (BiomedCLIP, %s)\n", p->out_path, o.f16 ? "f16" : "f32");
    if (!quiet)
        fprintf(stderr, "converted in %.2f s, peak RSS %.1f MB\n", tool_now() - t0, (double)tool_peak_rss() / 1e6);
    return 0;
}

static int run(int argc, char **argv)
{
    gemma3_convert_params p = {0};
    p.outtype = GGML_TYPE_F16;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--outfile")) && has_next) {
            p.out_path = argv[++i];
        } else if (!strcmp(a, "--outtype") && has_next) {
            if (!parse_outtype(argv[++i], &p.outtype)) {
                fprintf(stderr, "medge convert: --outtype must be f32, f16, bf16 or q8_0, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--mmproj") && has_next) {
            p.mmproj_path = argv[++i];
        } else if (!strcmp(a, "--vocab-only")) {
            p.vocab_only = 1;
        } else if (!strcmp(a, "--name") && has_next) {
            p.name = argv[++i];
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_next) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "medge convert: -t must be a thread count (1..256)\n");
                return 2;
            }
            p.n_threads = (int)n;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medge convert: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (!p.hf_dir) {
            p.hf_dir = a;
        } else {
            fprintf(stderr, "medge convert: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!p.hf_dir || (!p.out_path && !p.mmproj_path)) {
        usage(stderr);
        return 2;
    }
    if (p.vocab_only && !p.out_path) {
        fprintf(stderr, "medge convert: --vocab-only needs -o\n");
        return 2;
    }

    progress_state ps = {tool_now(), 0, quiet};
    p.progress = progress;
    p.progress_user = &ps;
    convert_output text = {0}, mm = {0};
    medge_status rc;
    /* One branch per checkpoint kind, recognised from the directory's files. */
    if (bmc_is_checkpoint_dir(p.hf_dir)) {
        return convert_biomedclip(&p, argc, argv, quiet); /* open_clip BiomedCLIP: open_clip_config.json */
    } else if (file_in(p.hf_dir, "config.json")) {
        rc = gemma3_convert(&p, &text, &mm); /* Gemma 3 / MedGemma; explains other config.json kinds */
    } else {
        fprintf(stderr, "medge convert: %s: no config.json or open_clip_config.json: not a supported checkpoint directory\n", p.hf_dir);
        return 1;
    }
    if (!quiet && ps.last > 0)
        fputc('\n', stderr);
    if (rc != MEDGE_OK)
        return tool_fail("convert", rc);
    double el = tool_now() - ps.t0;
    if (p.out_path)
        printf("%s  %s  (%llu tensors, %llu params, %.1f MB)\n", text.sha256, p.out_path, (unsigned long long)text.n_tensors,
               (unsigned long long)text.n_params, (double)text.bytes / 1e6);
    if (p.mmproj_path)
        printf("%s  %s  (%llu tensors, %llu params, %.1f MB)\n", mm.sha256, p.mmproj_path, (unsigned long long)mm.n_tensors,
               (unsigned long long)mm.n_params, (double)mm.bytes / 1e6);
    if (!quiet)
        fprintf(stderr, "converted in %.2f s, peak RSS %.1f MB\n", el, (double)tool_peak_rss() / 1e6);
    return 0;
}

const struct medge_cmd medge_cmd_convert = {"convert", "Hugging Face checkpoint (Gemma 3 / MedGemma, BiomedCLIP) -> GGUF (+ mmproj)", run};
