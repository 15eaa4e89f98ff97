/* cmd-demo.c - `medge demo`: the whole life of a model on this machine, on built-in defaults and
 * without any download: make a MedGemma-shaped checkpoint with random weights (tiny by default),
 * convert it to GGUF as llama.cpp would, quantize it to Q4_K_S, check the quantized model against
 * the original (KL divergence quality gate), measure its speed and memory, and run the clinical
 * assessment on a built-in case. Each step is the same code as the subcommand of that name. */
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>

extern const struct medge_cmd medge_cmd_synth, medge_cmd_convert, medge_cmd_quantize, medge_cmd_eval, medge_cmd_bench,
    medge_cmd_assess;

/* Original text for the quality gate: short clinical notes of the kind the model will see. */
static const char CALIBRATION[] =
    "A 34-year-old farmer presents with fever, chills and headache for three days. He lives in a malaria-endemic "
    "district and did not sleep under a bed net. Temperature 38.9 C, pulse 104, blood pressure 118/76. A rapid "
    "diagnostic test for malaria is positive. There are no signs of severe malaria: he is alert, drinking, and "
    "has no convulsions, jaundice or dark urine. Treat with the first-line artemisinin combination therapy, give "
    "paracetamol for fever, and explain the danger signs that need an immediate return.\n"
    "A 2-year-old girl has had cough and fast breathing since yesterday. Respiratory rate 52 per minute, lower "
    "chest wall indrawing present, no stridor. She is able to drink and has not vomited. Oxygen saturation 93 "
    "percent. Classify as pneumonia with chest indrawing; give the first dose of oral amoxicillin and refer to "
    "the district hospital the same day.\n"
    "A 58-year-old woman with type 2 diabetes reports a foot ulcer on the sole for two weeks. The wound is 2 cm "
    "wide with surrounding redness and warmth, no crepitus, and she has a temperature of 37.8 C. Blood glucose "
    "is 14 mmol/L. Clean and dress the wound, offload pressure, start antibiotics per protocol, and arrange "
    "review within 48 hours; refer urgently if redness spreads or fever rises.\n"
    "A 26-year-old woman at 32 weeks of pregnancy has a severe headache and swelling of the face and hands. "
    "Blood pressure 162/108, urine protein 2+. These are danger signs of pre-eclampsia: give magnesium sulfate "
    "per protocol if trained, an antihypertensive, and refer immediately to a facility with obstetric care.\n";

static const char CASE[] =
    "45-year-old man, cough for 3 weeks with night sweats and weight loss, now short of breath. "
    "Temp 38.4, RR 26, SpO2 91%. Chest X-ray photo attached by the health worker.";

static void usage(FILE *f)
{
    fprintf(f, "usage: medge demo [-o DIR] [--preset tiny|medgemma-4b] [-t N] [--keep]\n\n"
               "Run the whole medge workflow on built-in defaults, offline, with a random-weight model in the\n"
               "exact layout of MedGemma (no download): synth -> convert -> quantize (Q4_K_S) -> eval kld\n"
               "(quality gate) -> bench -> assess. The answers of a random-weight model are meaningless; the\n"
               "point is that every step runs, and how fast, on this machine. For real answers convert\n"
               "google/medgemma-4b-it with `medge convert` and use `medge assess -m`.\n\n"
               "  -o DIR          working folder (default: medge-demo); created if needed\n"
               "  --preset NAME   tiny (default, seconds) or medgemma-4b (full size: ~8 GB of files, minutes)\n"
               "  -t N            threads (default: all cores)\n"
               "  --keep          keep the generated models (default: delete them at the end)\n"
               "  -h, --help      this help\n");
}

/* Run one subcommand; threads (may be NULL) is passed as "-t N". */
static int step(const char *title, const struct medge_cmd *cmd, char **args, const char *threads)
{
    char *argv[24];
    int argc = 0;
    while (args[argc] && argc < 20) {
        argv[argc] = args[argc];
        argc++;
    }
    if (threads) {
        argv[argc++] = "-t";
        argv[argc++] = (char *)threads;
    }
    argv[argc] = NULL;
    printf("\n=== %s\n$ medge", title);
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
    double t0 = tool_now();
    int rc = cmd->run(argc, argv);
    fflush(stdout);
    if (rc != 0) {
        fprintf(stderr, "medge demo: step '%s' failed (exit code %d)\n", title, rc);
        return rc;
    }
    printf("--- %s: done in %.1f s\n", title, tool_now() - t0);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int run(int argc, char **argv)
{
    const char *dir = "medge-demo", *preset = "tiny", *threads = NULL;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--preset") && i + 1 < argc) {
            preset = argv[++i];
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            threads = argv[++i];
        } else if (!strcmp(argv[i], "--keep")) {
            keep = 1;
        } else {
            fprintf(stderr, "medge demo: unknown or incomplete option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(preset, "tiny") && strcmp(preset, "medgemma-4b")) {
        fprintf(stderr, "medge demo: unknown preset '%s' (tiny or medgemma-4b)\n", preset);
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "medge demo: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char *hf = join(dir, "hf"), *f16 = join(dir, "model-f16.gguf"), *mmproj = join(dir, "mmproj-f16.gguf"),
         *q4 = join(dir, "model-Q4_K_S.gguf"), *calib = join(dir, "calibration.txt");
    int rc = 1;
    if (!hf || !f16 || !mmproj || !q4 || !calib)
        goto done;
    FILE *f = fopen(calib, "w");
    if (!f || fputs(CALIBRATION, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "medge demo: cannot write %s\n", calib);
        goto done;
    }
    int big = !strcmp(preset, "medgemma-4b");
    printf("medge demo: random-weight %s model in %s (answers are meaningless; speed and memory are real)\n", preset, dir);
    {
        char *a1[] = {"synth", "--preset", (char *)preset, "--format", "hf", "-q", "-o", hf, NULL};
        char *a2[] = {"convert", hf, "-o", f16, "--outtype", "f16", "--mmproj", mmproj, "-q", NULL};
        char *a3[] = {"quantize", "-q", f16, q4, "Q4_K_S", NULL};
        char *a4[] = {"eval", "kld", "--base", f16, "--model", q4, "-f", calib, "-c", big ? "128" : "64", NULL};
        char *a5[] = {"bench", "-m", q4, "-p", big ? "128" : "64", "-n", big ? "16" : "32", "-r", "2", NULL};
        char *a6[] = {"assess", "-q", "-m", q4, "-s", (char *)CASE, NULL};
        if ((rc = step("1/6 make a MedGemma-layout Hugging Face checkpoint (random weights)", &medge_cmd_synth, a1, threads)) ||
            (rc = step("2/6 convert to GGUF (text model + vision mmproj), as llama.cpp would", &medge_cmd_convert, a2, threads)) ||
            (rc = step("3/6 quantize to Q4_K_S (llama.cpp's recipe, byte-identical blocks)", &medge_cmd_quantize, a3, threads)) ||
            (rc = step("4/6 quality gate: Q4_K_S against F16 (KL divergence, perplexity)", &medge_cmd_eval, a4, threads)) ||
            (rc = step("5/6 speed and memory on this machine", &medge_cmd_bench, a5, threads)) ||
            (rc = step("6/6 clinical assessment of a built-in case", &medge_cmd_assess, a6, threads)))
            goto done;
    }
    printf("\nmedge demo: all steps ran. With real weights: medge convert <medgemma-4b-it dir> -o m.gguf; "
           "medge quantize m.gguf m-q4.gguf Q4_K_S; medge assess -m m-q4.gguf -s \"...\"\n");
    rc = 0;
done:
    if (!keep && rc == 0) {
        remove(f16);
        remove(mmproj);
        remove(q4);
        nftw(hf, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    free(hf);
    free(f16);
    free(mmproj);
    free(q4);
    free(calib);
    return rc;
}

const struct medge_cmd medge_cmd_demo = {"demo", "run the whole workflow offline on a random-weight MedGemma-layout model", run};
