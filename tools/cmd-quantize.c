/* cmd-quantize.c - `medge quantize`: a GGUF model to a smaller GGUF, choosing each tensor's type
 * as llama-quantize does (byte-identical output), streaming and multithreaded. */
#include "tool.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "quant/model-quant.h"
#include "quant/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: medge quantize [options] IN.gguf OUT.gguf TYPE\n"
            "\n"
            "Quantize a GGUF model (F32, F16 or BF16 tensors) to TYPE. Each tensor's type is chosen as\n"
            "llama.cpp's llama-quantize chooses it (the same mixture rules, the same block formats, byte for\n"
            "byte), the metadata is copied and general.file_type set. Tensors are processed one by one in\n"
            "batches of rows, so memory stays small whatever the model size. The output is written under a\n"
            "temporary name and renamed only when complete.\n"
            "\n"
            "TYPE: %s\n"
            "  (Q4_K = Q4_K_M, Q3_K = Q3_K_M, Q5_K = Q5_K_M; Q2_K_S needs --imatrix)\n"
            "  or I8_PC (BiomedCLIP models): the image tower's block layers (v.blk.*) as per-channel\n"
            "  int8 - one float scale per output row, activations quantized per row at run time, int32\n"
            "  sums: the scheme of ONNX Runtime's dynamic INT8 - except the single-row products (the\n"
            "  last block's attn_out, ffn_up, ffn_down and the head v.proj: F16, int8 buys no time\n"
            "  there); the text tower's (t.blk.*, t.proj.*) as F16 (label prompts differ in a word or\n"
            "  two: int8 errors on the text side reorder near-tied zero-shot labels); the rest as Q8_0\n"
            "  does. --tensor-type rules come first, e.g. '^[vt]\\.(blk|proj)=I8_PC' for all int8.\n"
            "  I8_PC is medge's own tensor type (GGUF type id 0x4d450001, outside ggml's ids):\n"
            "  llama.cpp does not load such a file.\n"
            "\n"
            "options:\n"
            "  -t, --threads N            worker threads (default: one per core)\n"
            "  --imatrix FILE             importance matrix in llama.cpp's GGUF format (llama-imatrix or\n"
            "                             `medge imatrix`); used for the tensors it names\n"
            "  --pure                     one type (TYPE's default) for every quantizable tensor: no mixture\n"
            "                             rules, no fallbacks; tensors whose rows do not fit are copied\n"
            "  --tensor-type PATTERN=T    tensors whose name matches the regular expression PATTERN (POSIX\n"
            "                             extended, searched anywhere) get type T; repeatable, first match wins\n"
            "  --output-tensor-type T     type of output.weight (and of a tied token_embd.weight)\n"
            "  --token-embedding-type T   type of token_embd.weight\n"
            "  --allow-requantize         accept inputs that are already quantized (dequantized first)\n"
            "  --dry-run                  print the plan (types and sizes) without writing anything\n"
            "  -q, --quiet                no per-tensor progress lines\n"
            "  -v, --verbose              more detail (e.g. tensors without imatrix entries)\n"
            "  -h, --help                 this text\n"
            "\n"
            "T is a tensor type: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,\n"
            "IQ4_NL, IQ4_XS, I8_PC (see above; rows a multiple of 32).\n"
            "Works on text models, on mmproj (arch clip) files and on GGUFs of tensors without a model\n"
            "architecture llama.cpp knows (e.g. test vectors; with or without --pure: there,\n"
            "every 2-D F32 tensor whose rows fit the block size is quantized and the rest copied).\n"
            "A tensor whose row length does not fit its type's block falls back as llama.cpp does\n"
            "(Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->Q4_0, IQ4_XS->IQ4_NL, then F16) with a warning.\n"
            "Progress goes to stderr; the summary (sizes, bits per weight, time, peak memory) to stdout.\n",
            quant_ftype_list());
}

static void progress(void *user, const quant_progress *p)
{
    (void)user;
    char shape[96];
    int n = snprintf(shape, sizeof shape, "[%lld", (long long)p->ne[0]);
    for (uint32_t d = 1; d < p->n_dims && n < (int)sizeof shape; d++)
        n += snprintf(shape + n, sizeof shape - (size_t)n, " x %lld", (long long)p->ne[d]);
    snprintf(shape + n, sizeof shape - (size_t)n, "]");
    char note[96] = "";
    if (p->fallback)
        snprintf(note, sizeof note, "  (fallback from %s)", quant_type_name(p->wanted_type));
    if (p->quantized)
        fprintf(stderr, "[%4llu/%4llu] %-40s %-18s %-6s -> %-6s %9.3f -> %8.3f MiB%s%s %6.2f s\n", (unsigned long long)p->i,
                (unsigned long long)p->n, p->name, shape, quant_type_name(p->src_type), quant_type_name(p->dst_type),
                (double)p->src_bytes / 1048576.0, (double)p->dst_bytes / 1048576.0, p->imatrix_used ? " imatrix" : "",
                note, p->seconds);
    else
        fprintf(stderr, "[%4llu/%4llu] %-40s %-18s %-6s    copy   %9.3f MiB%s\n", (unsigned long long)p->i,
                (unsigned long long)p->n, p->name, shape, quant_type_name(p->src_type), (double)p->src_bytes / 1048576.0,
                note);
}

static int parse_type(const char *s, int *out)
{
    int t = quant_type_from_name(s);
    if (t < 0 || !quant_can_quantize((enum ggml_type)t))
        return 0;
    *out = t;
    return 1;
}

static int run(int argc, char **argv)
{
    quant_model_params p = quant_model_default_params();
    quant_type_override *ov = calloc((size_t)argc + 4, sizeof *ov);
    const char *pos[3];
    int n_pos = 0, quiet = 0, verbose = 0, rc = 1;
    if (!ov)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!val || (p.n_threads = atoi(val)) <= 0) {
                fprintf(stderr, "medge quantize: %s needs a positive number\n", a);
                goto done;
            }
            i++;
        } else if (!strcmp(a, "--imatrix")) {
            if (!val) {
                fprintf(stderr, "medge quantize: --imatrix needs a file\n");
                goto done;
            }
            p.imatrix_path = val;
            i++;
        } else if (!strcmp(a, "--pure")) {
            p.recipe.pure = true;
        } else if (!strcmp(a, "--allow-requantize")) {
            p.allow_requantize = true;
        } else if (!strcmp(a, "--dry-run")) {
            p.dry_run = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--tensor-type")) {
            const char *eq = val ? strrchr(val, '=') : NULL;
            int t;
            if (!eq || eq == val || !parse_type(eq + 1, &t)) {
                fprintf(stderr, "medge quantize: --tensor-type needs PATTERN=TYPE with a known TYPE (got '%s')\n",
                        val ? val : "");
                goto done;
            }
            char *pat = strndup(val, (size_t)(eq - val));
            if (!pat)
                goto done;
            ov[p.recipe.n_overrides].pattern = pat;
            ov[p.recipe.n_overrides].type = (enum ggml_type)t;
            p.recipe.n_overrides++;
            i++;
        } else if (!strcmp(a, "--output-tensor-type") || !strcmp(a, "--token-embedding-type")) {
            int t;
            if (!val || !parse_type(val, &t)) {
                fprintf(stderr, "medge quantize: %s: unknown tensor type '%s'\n", a, val ? val : "");
                goto done;
            }
            if (a[2] == 'o')
                p.recipe.output_type = t;
            else
                p.recipe.token_embd_type = t;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medge quantize: unknown option '%s' (see --help)\n", a);
            goto done;
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "medge quantize: too many arguments (see --help)\n");
            goto done;
        }
    }
    if (n_pos != 3 && !(n_pos == 2 && p.dry_run)) {
        fprintf(stderr, "usage: medge quantize [options] IN.gguf OUT.gguf TYPE   (see --help)\n");
        rc = 2;
        goto done;
    }
    const char *in = pos[0], *out = n_pos == 3 ? pos[1] : NULL, *tname = pos[n_pos - 1];
    if (strcasecmp(tname, "I8_PC") == 0) {
        /* Q8_0's recipe, after the user's own --tensor-type rules: the image tower's linear layers
         * (blocks and head) as per-channel int8, the text tower's as F16. Zero-shot labels compare
         * prompts that differ in a word or two, so their embeddings lie close together and an
         * independent int8 error on each prompt reorders near-tied labels, while an image error
         * moves every label's logit alike (bench/biomedclip.md); prompts are embedded once per
         * label set, so the text tower's precision costs no image time. The image tower's
         * products of a single row (the last block after attention: only the CLS row goes on; the
         * head) stay F16 too: int8 buys no time there. */
        p.recipe.ftype = QFT_Q8_0;
        char last[96] = "";
        gguf_ctx *g = NULL;
        uint32_t nb = 0;
        if (gguf_open(in, &g) == MEDGE_OK && gguf_get_u32(g, "clip.vision.block_count", &nb) == MEDGE_OK && nb > 0 &&
            nb <= 1024)
            snprintf(last, sizeof last, "^v\\.blk\\.%u\\.(attn_out|ffn_up|ffn_down)\\.", nb - 1);
        gguf_close(g);
        medge_err_clear();
        const struct { const char *pattern; enum ggml_type type; } rules[] = {
            {"^v\\.proj\\.", GGML_TYPE_F16},
            {last, GGML_TYPE_F16},
            {"^v\\.blk\\.[0-9]+\\.", MEDGE_TYPE_I8_PC},
            {"^t\\.(blk\\.[0-9]+\\.|proj\\.)", GGML_TYPE_F16},
        };
        for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
            if (!rules[r].pattern[0])
                continue;
            char *pat = strdup(rules[r].pattern);
            if (!pat)
                goto done;
            ov[p.recipe.n_overrides].pattern = pat;
            ov[p.recipe.n_overrides].type = rules[r].type;
            p.recipe.n_overrides++;
        }
    } else {
        p.recipe.ftype = quant_ftype_from_name(tname);
    }
    if (p.recipe.ftype < 0) {
        fprintf(stderr, "medge quantize: unknown type '%s'; one of: %s\n", tname, quant_ftype_list());
        rc = 2;
        goto done;
    }
    if (out && strcmp(in, out) == 0) {
        fprintf(stderr, "medge quantize: the output must not be the input\n");
        goto done;
    }
    p.recipe.overrides = ov;
    tool_log_init(verbose);
    if (!quiet)
        p.progress = progress;
    quant_model_result r;
    const double t0 = tool_now();
    medge_status st = quant_model(in, out, &p, &r);
    if (st != MEDGE_OK) {
        rc = tool_fail("quantize", st);
        goto done;
    }
    const double el = r.n_elements ? (double)r.n_elements : 1.0;
    printf("%s%s -> %s (%s)%s\n", p.dry_run ? "dry run: " : "", in, out ? out : "-", quant_ftype_name(p.recipe.ftype),
           p.recipe.pure ? ", pure" : "");
    printf("tensors: %llu (%llu quantized, %llu copied, %llu fallbacks)\n", (unsigned long long)r.n_tensors,
           (unsigned long long)r.n_quantized, (unsigned long long)(r.n_tensors - r.n_quantized),
           (unsigned long long)r.n_fallback);
    if (p.imatrix_path)
        printf("imatrix: %s (%d entries used)\n", p.imatrix_path, r.imatrix_entries_used);
    printf("model size: %.2f MiB (%.2f BPW)\n", (double)r.bytes_in / 1048576.0, (double)r.bytes_in * 8.0 / el);
    printf("quant size: %.2f MiB (%.2f BPW)\n", (double)r.bytes_out / 1048576.0, (double)r.bytes_out * 8.0 / el);
    if (!p.dry_run)
        printf("file size: %llu bytes\n", (unsigned long long)r.file_bytes);
    printf("time: %.2f s, peak RSS %.1f MiB\n", tool_now() - t0, (double)tool_peak_rss() / 1048576.0);
    if (r.n_fallback)
        fprintf(stderr, "warning: %llu tensors did not fit their type's block size and fell back to another type\n",
                (unsigned long long)r.n_fallback);
    rc = 0;
done:
    for (int i = 0; i < p.recipe.n_overrides; i++)
        free((char *)ov[i].pattern);
    free(ov);
    return rc;
}

const struct medge_cmd medge_cmd_quantize = {"quantize", "quantize a GGUF model as llama-quantize does (Q4_K_S, Q8_0, ...)",
                                             run};
