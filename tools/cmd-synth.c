/* cmd-synth.c - `medge synth`: write a random-weight model with the exact tensors, shapes and
 * metadata of a real one (see src/convert/synth.h), for conversion, quantization and speed work
 * without the real weights. */
#include "tool.h"
#include "convert/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: medge synth --preset NAME [--format gguf|hf] [--type TYPE] [--mmproj PATH] [--seed N]\n"
            "                   [--tokenizer DIR] [-t N] -o PATH\n\n"
            "Write a model with random weights and the exact tensor names, shapes and metadata of a real one.\n"
            "Values depend only on the seed (normal, std 0.02, rounded to bf16; norms near 1), so every format\n"
            "and thread count gives the same numbers.\n\n"
            "  --preset NAME    medgemma-4b (MedGemma 4B-IT: 34 layers, 262208-token vocabulary, SigLIP 896)\n"
            "                   tiny        (the gemma3 test size of ../shared/reference/gemma3-tiny)\n"
            "                   biomedclip  (BiomedCLIP-PubMedBERT_256-vit_base_patch16_224: ViT-B/16 224 +\n"
            "                               PubMedBERT, 512-d joint space; values in float32, not bf16)\n"
            "                   biomedclip-tiny (the shapes of ../shared/reference/biomedclip-tiny)\n"
            "  --format F       gguf (default): text model GGUF at PATH (+ the vision tower with --mmproj)\n"
            "                   hf: a Hugging Face checkpoint directory at PATH (config.json, sharded BF16\n"
            "                   safetensors + model.safetensors.index.json, tokenizer files); for biomedclip an\n"
            "                   open_clip checkpoint (open_clip_config.json, F32 open_clip_model.safetensors,\n"
            "                   vocab.txt) as `medge convert` reads it\n"
            "                   biomedclip GGUF: one file with both towers, made by converting that checkpoint\n"
            "                   (and quantizing it as `medge quantize` would for --type other than F32)\n"
            "  --type TYPE      GGUF tensor type: F32, F16 (default; biomedclip: F32), BF16, Q8_0, Q4_0, Q4_1,\n"
            "                   Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, or the mixtures Q4_K_S\n"
            "                   and Q4_K_M (as llama-quantize assigns them; token embedding Q6_K). Quantized\n"
            "                   types need the quantizers of this build. The mmproj stays F16 (F32/BF16 with\n"
            "                   those types). biomedclip: any `medge quantize` type, chosen per tensor as it does.\n"
            "  --mmproj PATH    also write the vision tower + projector GGUF (gguf format only)\n"
            "  --seed N         random seed (default 42)\n"
            "  --tokenizer DIR  hf format: copy tokenizer.model / tokenizer.json / tokenizer_config.json /\n"
            "                   added_tokens.json from DIR instead of writing a synthetic vocabulary;\n"
            "                   biomedclip (both formats): use DIR/vocab.txt instead of the synthetic WordPiece\n"
            "                   vocabulary (BERT-uncased special ids, common prompt words, letter n-grams)\n"
            "  -t, --threads N  threads (default: all cores)\n"
            "  -o PATH          output file (gguf) or directory (hf)\n"
            "  -q, --quiet      no progress output\n");
}

struct prog {
    double t0, last;
    int quiet;
};

static void progress(void *user, const char *name, int index, int count, uint64_t bytes)
{
    struct prog *pr = user;
    double now = tool_now();
    if (pr->quiet || (now - pr->last < 1.0 && index != count))
        return;
    pr->last = now;
    fprintf(stderr, "\r[%4d/%4d] %-48.48s %8.1f MB %6.1f s", index, count, name, (double)bytes / 1e6, now - pr->t0);
    if (index == count)
        fputc('\n', stderr);
}

static int run(int argc, char **argv)
{
    synth_params p = synth_default_params();
    p.preset = NULL;
    p.type = NULL; /* the preset's default */
    const char *out = NULL, *mmproj = NULL;
    struct prog pr = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            pr.quiet = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "medge synth: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--preset")) {
            p.preset = val;
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(val, "gguf"))
                p.format = SYNTH_GGUF;
            else if (!strcmp(val, "hf"))
                p.format = SYNTH_HF;
            else {
                fprintf(stderr, "medge synth: unknown format '%s' (gguf, hf)\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--type")) {
            p.type = val;
        } else if (!strcmp(a, "--mmproj")) {
            mmproj = val;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            p.seed = strtoull(val, &end, 10);
            if (*end) {
                fprintf(stderr, "medge synth: bad seed '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--tokenizer")) {
            p.tokenizer_dir = val;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            p.n_threads = atoi(val);
        } else if (!strcmp(a, "-o")) {
            out = val;
        } else {
            fprintf(stderr, "medge synth: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!p.preset || !out) {
        fprintf(stderr, "medge synth: --preset and -o are required\n\n");
        help(stderr);
        return 2;
    }
    pr.t0 = tool_now();
    p.progress = progress;
    p.user = &pr;
    medge_status rc = synth_write(&p, out, mmproj);
    if (rc != MEDGE_OK) {
        if (!pr.quiet)
            fputc('\n', stderr);
        return tool_fail("synth", rc);
    }
    if (!pr.quiet)
        fprintf(stderr, "wrote %s%s%s in %.1f s (peak RSS %.0f MB)\n", out, mmproj ? " and " : "", mmproj ? mmproj : "",
                tool_now() - pr.t0, (double)tool_peak_rss() / 1e6);
    return 0;
}

const struct medge_cmd medge_cmd_synth = {"synth", "write a random-weight model with the exact layout of a real one", run};
