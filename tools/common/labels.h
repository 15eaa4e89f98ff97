/* labels.h - zero-shot label lists shared by `medge classify` and `medge eval clip`: the built-in
 * label sets for common clinic images and the comma-list parser. */
#ifndef MEDGE_TOOLS_LABELS_H
#define MEDGE_TOOLS_LABELS_H
#include <stdio.h>

#define LABELS_MAX 256

typedef struct label_list {
    char *buf;                     /* owned copy of the list the pointers point into */
    const char *v[LABELS_MAX];
    int n;
} label_list;

/* The comma-separated labels of built-in set `name`, or NULL when there is none. */
const char *labels_builtin(const char *name);
/* Print the built-in sets, one per line with the given indent. */
void labels_print_sets(FILE *f);
/* Split a comma list (spaces around labels trimmed, empty entries dropped) into l.
 * Returns the count (0 on an empty list or out of memory); free with labels_free. */
int labels_parse(label_list *l, const char *list);
void labels_free(label_list *l);
#endif
