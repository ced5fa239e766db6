/*
 * libFuzzer target: the YAML configuration loader.  Every input either
 * loads (and is freed) or yields a one-line error naming a line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[512];
	struct config *cfg = NULL;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (config_load_string("fuzz.yaml", text, &cfg, err, sizeof(err)) == 0)
		config_free(cfg);
	else if (strncmp(err, "fuzz.yaml", 9) != 0 || strchr(err, '\n') != NULL)
		abort();
	free(text);
	return 0;
}
