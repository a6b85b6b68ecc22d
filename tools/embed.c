/* Build helper: turn the shipped policy files into C strings (regsign needs no data files). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	FILE *out = fopen(argv[1], "w");
	if (out == NULL)
		return 1;
	fprintf(out, "/* Generated from policies/ by tools/embed.c. */\n#include <stddef.h>\n"
		     "struct rs_builtin_policy { const char *name; const char *text; };\n"
		     "extern const struct rs_builtin_policy rs_builtin_policies[];\n"
		     "const struct rs_builtin_policy rs_builtin_policies[] = {\n");
	for (int i = 2; i < argc; i++) {
		FILE *in = fopen(argv[i], "r");
		if (in == NULL)
			return 1;
		const char *base = strrchr(argv[i], '/');
		base = base ? base + 1 : argv[i];
		size_t len = strcspn(base, ".");
		fprintf(out, "\t{ \"%.*s\",\n\t  \"", (int)len, base);
		int c;
		while ((c = fgetc(in)) != EOF) {
			if (c == '\n')
				fputs("\\n\"\n\t  \"", out);
			else if (c == '"' || c == '\\')
				fprintf(out, "\\%c", c);
			else if (c < 32 || c > 126)
				fprintf(out, "\\%03o", c);
			else
				fputc(c, out);
		}
		fputs("\" },\n", out);
		fclose(in);
	}
	fputs("\t{ NULL, NULL },\n};\n", out);
	return fclose(out) == 0 ? 0 : 1;
}
