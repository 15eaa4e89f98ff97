/* log.h - the single logging path of libmedge (through the caller's callback). */
#ifndef MEDGE_CORE_LOG_H
#define MEDGE_CORE_LOG_H
#include "core/error.h"

void medge_log(medge_log_level level, const char *fmt, ...) MEDGE_PRINTF(2, 3);
#define MEDGE_LOGD(...) medge_log(MEDGE_LOG_DEBUG, __VA_ARGS__)
#define MEDGE_LOGI(...) medge_log(MEDGE_LOG_INFO, __VA_ARGS__)
#define MEDGE_LOGW(...) medge_log(MEDGE_LOG_WARN, __VA_ARGS__)
#endif
