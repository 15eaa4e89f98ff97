/* labels.c - built-in zero-shot label sets and the comma-list parser (see labels.h). */
#include "common/labels.h"

#include <stdlib.h>
#include <string.h>

/* Label sets for common clinic images. The first is the model card's own demo. */
static const struct {
    const char *name, *labels;
} k_sets[] = {
    {"biomedclip-demo", "adenocarcinoma histopathology,brain MRI,covid line chart,squamous cell carcinoma histopathology,"
                        "immunohistochemistry histopathology,bone X-ray,chest X-ray,pie chart,hematoxylin and eosin "
                        "histopathology"},
    {"modality", "chest X-ray,bone X-ray,brain MRI,CT scan,ultrasound image,skin lesion photograph,fundus photograph,"
                 "histopathology slide,ECG tracing,dental X-ray"},
    {"chest-xray", "normal chest X-ray,pneumonia,pleural effusion,tuberculosis,cardiomegaly,pneumothorax,lung nodule,"
                   "pulmonary edema"},
    {"skin", "benign nevus,melanoma,basal cell carcinoma,seborrheic keratosis,fungal skin infection,eczema,psoriasis,"
             "scabies"},
    {"histopathology", "normal tissue,adenocarcinoma,squamous cell carcinoma,lymph node metastasis,"
                       "tumor infiltrating lymphocytes"},
};

const char *labels_builtin(const char *name)
{
    for (size_t k = 0; k < sizeof k_sets / sizeof k_sets[0]; k++)
        if (!strcmp(name, k_sets[k].name))
            return k_sets[k].labels;
    return NULL;
}

void labels_print_sets(FILE *f)
{
    for (size_t i = 0; i < sizeof k_sets / sizeof k_sets[0]; i++)
        fprintf(f, "  %-16s %s\n", k_sets[i].name, k_sets[i].labels);
}

int labels_parse(label_list *l, const char *list)
{
    memset(l, 0, sizeof *l);
    l->buf = strdup(list);
    for (char *p = l->buf; p && l->n < LABELS_MAX;) {
        char *c = strchr(p, ',');
        if (c)
            *c = 0;
        while (*p == ' ')
            p++;
        char *e = p + strlen(p);
        while (e > p && e[-1] == ' ')
            *--e = 0;
        if (*p)
            l->v[l->n++] = p;
        p = c ? c + 1 : NULL;
    }
    return l->n;
}

void labels_free(label_list *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}
