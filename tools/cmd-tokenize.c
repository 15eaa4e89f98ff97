/* cmd-tokenize.c - `medge tokenize`: the token ids a model sees for a text, with the model's own
 * tokenizer (Gemma 3 SentencePiece-BPE from a GGUF or tokenizer.json; BERT WordPiece from a
 * vocab.txt or a BiomedCLIP GGUF). Also measures tokenizer speed (--time). */
#include "tool.h"
#include "core/error.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "text/spm.h"
#include "text/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *usage_text =
    "usage: medge tokenize (-m MODEL.gguf | --json tokenizer.json | --vocab vocab.txt) [options]\n"
    "                      (-p TEXT | -f FILE)\n"
    "\n"
    "Print the token ids of a text as the model's tokenizer makes them: one \"id<TAB>piece\" line\n"
    "per token (the piece as stored in the vocabulary, with \\n, \\t, \\r, \\\\ and other control\n"
    "bytes escaped), or with --ids a JSON array of ids on one line.\n"
    "\n"
    "tokenizer (one of):\n"
    "  -m, --model FILE     a GGUF: tokenizer.ggml.model \"llama\" (Gemma 3 SentencePiece-BPE) or\n"
    "                       \"bert\" (WordPiece, e.g. a BiomedCLIP GGUF)\n"
    "  --json FILE          a Hugging Face tokenizer.json (Gemma 3 BPE)\n"
    "  --vocab FILE         a BERT vocab.txt (WordPiece, uncased, as BertTokenizer)\n"
    "\n"
    "text (one of):\n"
    "  -p, --prompt TEXT    the text itself\n"
    "  -f, --file FILE      read the text from FILE (\"-\" for standard input); bytes as they are\n"
    "\n"
    "options:\n"
    "  --ids                print a JSON array of ids on one line\n"
    "  --no-bos             SentencePiece: do not prepend <bos> (added by default when the model\n"
    "                       file asks for it, as Gemma's does)\n"
    "  --no-parse-special   SentencePiece: control pieces written in the text (<start_of_turn>,\n"
    "                       <end_of_turn>, <bos>...) stay plain text instead of becoming their ids\n"
    "  --max-len N          WordPiece: total length limit including [CLS] and [SEP] (default 256,\n"
    "                       BiomedCLIP's context; 0: no limit)\n"
    "  --time               print to stderr how long loading the vocabulary and tokenizing took\n"
    "                       (one thread; wall clock and CPU time), the speed in MB/s and the\n"
    "                       peak resident memory\n"
    "  --no-cache           SentencePiece: do not reuse the pieces of repeated words (same ids,\n"
    "                       slower; to measure the tokenizer on text made of unique words)\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 ok, 1 error, 2 bad usage\n";

/* CPU time of this process (the tokenizer runs on one thread), seconds. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_piece(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static int read_input(const char *path, char **text, size_t *len)
{
    if (strcmp(path, "-") == 0) {
        size_t cap = 1 << 16, n = 0;
        char *b = malloc(cap);
        while (b) {
            size_t got = fread(b + n, 1, cap - n, stdin);
            n += got;
            if (n < cap) {
                if (ferror(stdin)) {
                    free(b);
                    b = NULL;
                }
                break;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        if (!b) {
            fprintf(stderr, "medge tokenize: cannot read standard input\n");
            return 1;
        }
        *text = b;
        *len = n;
        return 0;
    }
    medge_map m;
    medge_status rc = medge_read_file(path, &m);
    if (rc != MEDGE_OK)
        return tool_fail("tokenize", rc);
    *text = malloc(m.size + 1);
    if (!*text) {
        medge_unmap(&m);
        fprintf(stderr, "medge tokenize: out of memory\n");
        return 1;
    }
    if (m.size)
        memcpy(*text, m.data, (size_t)m.size);
    *len = (size_t)m.size;
    medge_unmap(&m);
    return 0;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *json = NULL, *vocab = NULL, *prompt = NULL, *file = NULL;
    int ids_only = 0, no_bos = 0, no_special = 0, timing = 0, no_cache = 0;
    long max_len = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && next) {
            model = next, i++;
        } else if (strcmp(a, "--json") == 0 && next) {
            json = next, i++;
        } else if (strcmp(a, "--vocab") == 0 && next) {
            vocab = next, i++;
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && next) {
            prompt = next, i++;
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && next) {
            file = next, i++;
        } else if (strcmp(a, "--max-len") == 0 && next) {
            char *end;
            max_len = strtol(next, &end, 10);
            if (*end || max_len < 0 || max_len == 1) {
                fprintf(stderr, "medge tokenize: --max-len wants 0 or an integer >= 2\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--ids") == 0) {
            ids_only = 1;
        } else if (strcmp(a, "--no-bos") == 0) {
            no_bos = 1;
        } else if (strcmp(a, "--no-parse-special") == 0) {
            no_special = 1;
        } else if (strcmp(a, "--no-cache") == 0) {
            no_cache = 1;
        } else if (strcmp(a, "--time") == 0) {
            timing = 1;
        } else {
            fprintf(stderr, "medge tokenize: unknown or incomplete option '%s'\n\n%s", a, usage_text);
            return 2;
        }
    }
    if (!!model + !!json + !!vocab != 1 || !!prompt + !!file != 1) {
        fprintf(stderr, "medge tokenize: give one of -m/--json/--vocab and one of -p/-f\n\n%s", usage_text);
        return 2;
    }

    char *text = NULL;
    size_t len = 0;
    if (prompt) {
        len = strlen(prompt);
        text = malloc(len + 1);
        if (!text)
            return 1;
        memcpy(text, prompt, len + 1);
    } else if (read_input(file, &text, &len) != 0) {
        return 1;
    }

    spm_vocab *sv = NULL;
    wp_vocab *wv = NULL;
    medge_status rc = MEDGE_OK;
    double t0 = tool_now(), c0 = cpu_now();
    if (model) {
        gguf_ctx *g = NULL;
        rc = gguf_open(model, &g);
        if (rc == MEDGE_OK) {
            const char *kind = "llama";
            gguf_get_str(g, "tokenizer.ggml.model", &kind);
            if (strcmp(kind, "bert") == 0)
                rc = wp_load_gguf(g, &wv);
            else
                rc = spm_load_gguf(g, &sv);
            if (rc != MEDGE_OK)
                medge_err_prefix(rc, "%s", model);
            gguf_close(g);
        }
    } else if (json) {
        rc = spm_load_json(json, &sv);
    } else {
        rc = wp_load_file(vocab, &wv);
    }
    double t1 = tool_now(), c1 = cpu_now();
    if (rc != MEDGE_OK) {
        free(text);
        return tool_fail("tokenize", rc);
    }

    int32_t *ids = NULL;
    size_t n = 0;
    if (sv) {
        unsigned flags = (no_special ? 0 : SPM_PARSE_SPECIAL) | (no_bos ? 0 : SPM_ADD_BOS) | (no_cache ? SPM_NO_CACHE : 0);
        rc = spm_encode(sv, text, len, flags, &ids, &n);
    } else {
        rc = wp_encode(wv, text, len, (size_t)max_len, &ids, &n);
    }
    double t2 = tool_now(), c2 = cpu_now();
    if (rc != MEDGE_OK) {
        free(text);
        spm_free(sv);
        wp_free(wv);
        return tool_fail("tokenize", rc);
    }

    if (ids_only) {
        putchar('[');
        for (size_t i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
    } else {
        for (size_t i = 0; i < n; i++) {
            printf("%d\t", ids[i]);
            if (sv) {
                size_t pl;
                const char *p = spm_token_text(sv, ids[i], &pl);
                print_piece(p, pl);
            } else {
                const char *p = wp_token(wv, ids[i]);
                print_piece(p, strlen(p));
            }
            putchar('\n');
        }
    }
    if (timing) {
        double mb = (double)len / 1e6, secs = t2 - t1, cpu = c2 - c1;
        fprintf(stderr, "vocabulary: %d pieces loaded in %.1f ms (cpu %.1f ms)\n", sv ? spm_n_vocab(sv) : (int)wp_n_vocab(wv),
                (t1 - t0) * 1e3, (c1 - c0) * 1e3);
        fprintf(stderr, "tokenized %zu bytes into %zu tokens in %.3f s (cpu %.3f s): %.2f MB/s (cpu %.2f MB/s)\n", len, n,
                secs, cpu, secs > 0 ? mb / secs : 0.0, cpu > 0 ? mb / cpu : 0.0);
        fprintf(stderr, "peak RSS %.1f MB\n", (double)tool_peak_rss() / 1e6);
    }
    int bad = fflush(stdout) != 0 || ferror(stdout);
    free(ids);
    free(text);
    spm_free(sv);
    wp_free(wv);
    if (bad) {
        fprintf(stderr, "medge tokenize: error writing the output\n");
        return 1;
    }
    return 0;
}

const struct medge_cmd medge_cmd_tokenize = {"tokenize", "print the token ids of a text (Gemma 3 SentencePiece or BERT WordPiece)", run};
