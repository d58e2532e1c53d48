/*
 * truetype.c - the truetype plugin: what a part really is.
 *
 * PURPOSE: a typer that names a part's true file type and category from its
 * bytes alone (magic numbers first; then PE, OLE2, ZIP, RAR and 7z
 * structure; text heuristics last), and the condition `type = "truetype"`
 * that matches a message when any part at any depth has one of the listed
 * types or categories.
 *
 * NEVER: looks at a file name or a declared MIME type; reads a byte past
 * `size` or trusts a length or offset found in the data; loops without a
 * fixed bound; hands the core a string that is not static.
 */
#include <vigil/plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

/* The type vocabulary. The order of tt_types[] follows this enum. */
enum tt_id {
	TT_UNKNOWN = 0,
	/* executable */
	TT_EXE,
	TT_DLL,
	TT_EXE64,
	TT_DLL64,
	TT_ELF,
	TT_MACHO,
	TT_MSI,
	TT_CLASS,
	TT_JAR,
	TT_APK,
	TT_LNK,
	TT_CHM,
	TT_SIS,
	/* document */
	TT_DOC,
	TT_XLS,
	TT_PPT,
	TT_MSG,
	TT_OLE2,
	TT_DOCX,
	TT_XLSX,
	TT_PPTX,
	TT_DOCM,
	TT_XLSM,
	TT_PPTM,
	TT_ODT,
	TT_ODS,
	TT_ODP,
	TT_ODF,
	TT_PDF,
	TT_RTF,
	TT_HTML,
	TT_ONE,
	/* script */
	TT_JS,
	TT_VBS,
	TT_PS1,
	TT_BAT,
	TT_HTA,
	/* compressed */
	TT_ZIP,
	TT_RAR,
	TT_RAR5,
	TT_7Z,
	TT_GZIP,
	TT_BZIP2,
	TT_XZ,
	TT_CAB,
	TT_TAR,
	TT_ISO,
	TT_LZH,
	TT_ARJ,
	TT_CPIO,
	TT_TNEF,
	TT_SZDD,
	TT_BINHEX,
	/* image */
	TT_JPEG,
	TT_PNG,
	TT_GIF,
	TT_BMP,
	TT_TIFF,
	/* media */
	TT_MP3,
	TT_MP4,
	TT_WAV,
	TT_AVI,
	TT_OGG,
	/* other */
	TT_TEXT,
	TT_COUNT
};

static const char *const tt_categories[] = {
    "executable", "document", "compressed", "script", "image", "media", "other",
};
#define TT_NCATEGORIES (sizeof tt_categories / sizeof tt_categories[0])

static const struct tt_type {
	const char *name;
	const char *category;
} tt_types[TT_COUNT] = {
    [TT_UNKNOWN] = {"unknown", "other"},
    [TT_EXE] = {"exe", "executable"},
    [TT_DLL] = {"dll", "executable"},
    [TT_EXE64] = {"exe64", "executable"},
    [TT_DLL64] = {"dll64", "executable"},
    [TT_ELF] = {"elf", "executable"},
    [TT_MACHO] = {"macho", "executable"},
    [TT_MSI] = {"msi", "executable"},
    [TT_CLASS] = {"class", "executable"},
    [TT_JAR] = {"jar", "executable"},
    [TT_APK] = {"apk", "executable"},
    [TT_LNK] = {"lnk", "executable"},
    [TT_CHM] = {"chm", "executable"}, /* runs script: blocked like a program */
    [TT_SIS] = {"sis", "executable"}, /* Symbian installer */
    [TT_DOC] = {"doc", "document"},
    [TT_XLS] = {"xls", "document"},
    [TT_PPT] = {"ppt", "document"},
    [TT_MSG] = {"msg", "document"},
    [TT_OLE2] = {"ole2", "document"},
    [TT_DOCX] = {"docx", "document"},
    [TT_XLSX] = {"xlsx", "document"},
    [TT_PPTX] = {"pptx", "document"},
    [TT_DOCM] = {"docm", "document"},
    [TT_XLSM] = {"xlsm", "document"},
    [TT_PPTM] = {"pptm", "document"},
    [TT_ODT] = {"odt", "document"},
    [TT_ODS] = {"ods", "document"},
    [TT_ODP] = {"odp", "document"},
    [TT_ODF] = {"odf", "document"},
    [TT_PDF] = {"pdf", "document"},
    [TT_RTF] = {"rtf", "document"},
    [TT_HTML] = {"html", "document"},
    [TT_ONE] = {"one", "document"},
    [TT_JS] = {"js", "script"},
    [TT_VBS] = {"vbs", "script"},
    [TT_PS1] = {"ps1", "script"},
    [TT_BAT] = {"bat", "script"},
    [TT_HTA] = {"hta", "script"},
    [TT_ZIP] = {"zip", "compressed"},
    [TT_RAR] = {"rar", "compressed"},
    [TT_RAR5] = {"rar5", "compressed"},
    [TT_7Z] = {"7z", "compressed"},
    [TT_GZIP] = {"gzip", "compressed"},
    [TT_BZIP2] = {"bzip2", "compressed"},
    [TT_XZ] = {"xz", "compressed"},
    [TT_CAB] = {"cab", "compressed"},
    [TT_TAR] = {"tar", "compressed"},
    [TT_ISO] = {"iso", "compressed"},
    [TT_LZH] = {"lzh", "compressed"},
    [TT_ARJ] = {"arj", "compressed"},
    [TT_CPIO] = {"cpio", "compressed"},
    [TT_TNEF] = {"tnef", "compressed"},	    /* winmail.dat: holds attachments */
    [TT_SZDD] = {"szdd", "compressed"},	    /* MS-DOS COMPRESS.EXE */
    [TT_BINHEX] = {"binhex", "compressed"}, /* encoded Mac file */
    [TT_JPEG] = {"jpeg", "image"},
    [TT_PNG] = {"png", "image"},
    [TT_GIF] = {"gif", "image"},
    [TT_BMP] = {"bmp", "image"},
    [TT_TIFF] = {"tiff", "image"},
    [TT_MP3] = {"mp3", "media"},
    [TT_MP4] = {"mp4", "media"},
    [TT_WAV] = {"wav", "media"},
    [TT_AVI] = {"avi", "media"},
    [TT_OGG] = {"ogg", "media"},
    [TT_TEXT] = {"text", "other"},
};

/* Names that stand for several types in a condition's `types`. */
static const struct tt_family {
	const char *name;
	enum tt_id members[8]; /* ends at the first TT_UNKNOWN */
} tt_families[] = {
    {"pe", {TT_EXE, TT_DLL, TT_EXE64, TT_DLL64}},
    {"ooxml", {TT_DOCX, TT_XLSX, TT_PPTX, TT_DOCM, TT_XLSM, TT_PPTM}},
    {"odf", {TT_ODT, TT_ODS, TT_ODP, TT_ODF}},
    {"rar", {TT_RAR, TT_RAR5}},
    {"office_macro", {TT_DOCM, TT_XLSM, TT_PPTM}},
};

#define ZIP_MAX_ENTRIES 1000
#define ZIP_CT_MAX 16384 /* bytes of [Content_Types].xml looked at */
#define OLE_MAX_DIR_SECTORS 512
#define OLE_MAX_DIFAT_HOPS 4096 /* DIFAT sectors followed per file, in all */
#define RAR_MAX_BLOCKS 1000
#define TEXT_SAMPLE 8192 /* bytes of text looked at */
#define PDF_HEAD 1024

struct tt_state {
	vigil_host *host;
};

/* A compiled condition: which types and categories it matches. */
struct tt_cond {
	unsigned char type[TT_COUNT];
	unsigned char category[TT_NCATEGORIES];
};

/* ---------------------------------------------------------------------
 * Bounded readers
 */

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Whether `len` bytes of `sig` are at `off`, without reading past `n`. */
static int has_at(const unsigned char *d, size_t n, size_t off, const void *sig,
		  size_t len)
{
	return off <= n && len <= n - off && memcmp(d + off, sig, len) == 0;
}

#define HAS_AT(d, n, off, lit) has_at(d, n, off, lit, sizeof(lit) - 1)

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive search of a lowercase needle in raw bytes. */
static int find_nocase(const unsigned char *h, size_t n, const char *needle)
{
	size_t len = strlen(needle);
	if (len == 0 || len > n)
		return len == 0;
	for (size_t i = 0; i + len <= n; i++) {
		size_t j = 0;
		while (j < len &&
		       ascii_lower(h[i + j]) == (unsigned char)needle[j])
			j++;
		if (j == len)
			return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Executables
 */

/* MZ: PE32/PE32+ programs and libraries. An MZ header that does not lead
 * to a PE header (DOS, NE/LE, damaged or cut short) is still a program to
 * Windows, so it stays `exe`: a rule blocking executables fails closed. */
static enum tt_id detect_mz(const unsigned char *d, size_t n)
{
	if (n < 64)
		return TT_UNKNOWN;
	uint32_t off = le32(d + 0x3c);
	if (off > n || n - off < 24 || memcmp(d + off, "PE\0\0", 4) != 0)
		return TT_EXE;
	int dll = (le16(d + off + 22) & 0x2000) != 0; /* IMAGE_FILE_DLL */
	int wide;
	if (n - off >= 26 &&
	    (le16(d + off + 24) == 0x10b || le16(d + off + 24) == 0x20b)) {
		wide = le16(d + off + 24) == 0x20b;
	} else {
		uint16_t machine = le16(d + off + 4); /* AMD64, ARM64, IA64 */
		wide =
		    machine == 0x8664 || machine == 0xaa64 || machine == 0x0200;
	}
	if (wide)
		return dll ? TT_DLL64 : TT_EXE64;
	return dll ? TT_DLL : TT_EXE;
}

/* 0xCAFEBABE is a Java class (major version >= 45) or a fat Mach-O
 * (a small architecture count in the same word). */
static enum tt_id detect_cafebabe(const unsigned char *d, size_t n)
{
	if (n < 8)
		return TT_UNKNOWN;
	if (be16(d + 6) >= 45 && be16(d + 6) < 100)
		return TT_CLASS;
	uint32_t nfat = be32(d + 4);
	return nfat >= 1 && nfat <= 64 ? TT_MACHO : TT_UNKNOWN;
}

/* ---------------------------------------------------------------------
 * OLE2 compound files: the root directory's streams say what it is.
 */

#define OLE_ENDOFCHAIN 0xfffffffeu
#define OLE_NOSTREAM 0xffffffffu

struct ole {
	const unsigned char *d;
	size_t n;
	unsigned shift; /* sector size is 1 << shift */
	uint32_t dir[OLE_MAX_DIR_SECTORS];
	size_t n_dir;  /* directory sectors found */
	unsigned hops; /* DIFAT sectors still allowed to follow, in all */
};

/* The bytes of sector `s`, or NULL when it is not wholly in the data. */
static const unsigned char *ole_sector(const struct ole *o, uint32_t s)
{
	uint64_t off = ((uint64_t)s + 1) << o->shift;
	uint64_t size = (uint64_t)1 << o->shift;
	if (s >= OLE_ENDOFCHAIN || off > o->n || size > o->n - off)
		return NULL;
	return o->d + off;
}

/* The sector that holds FAT sector number k, through the DIFAT. */
static int ole_fat_sector(struct ole *o, uint32_t k, uint32_t *s_r)
{
	if (k < 109) {
		*s_r = le32(o->d + 0x4c + 4 * k);
		return 0;
	}
	uint32_t per = ((uint32_t)1 << o->shift) / 4 - 1;
	uint32_t cur = le32(o->d + 0x44);
	k -= 109;
	while (o->hops > 0) {
		o->hops--;
		const unsigned char *sec = ole_sector(o, cur);
		if (sec == NULL)
			return -1;
		if (k < per) {
			*s_r = le32(sec + 4 * k);
			return 0;
		}
		k -= per;
		cur = le32(sec + 4 * per);
	}
	return -1;
}

static int ole_next(struct ole *o, uint32_t s, uint32_t *next_r)
{
	uint32_t per = ((uint32_t)1 << o->shift) / 4;
	uint32_t fs;
	if (ole_fat_sector(o, s / per, &fs) != 0)
		return -1;
	const unsigned char *fat = ole_sector(o, fs);
	if (fat == NULL)
		return -1;
	*next_r = le32(fat + 4 * (s % per));
	return 0;
}

/* Directory entry i (128 bytes), or NULL. */
static const unsigned char *ole_entry(const struct ole *o, uint32_t i)
{
	uint32_t per = ((uint32_t)1 << o->shift) / 128;
	if (i / per >= o->n_dir)
		return NULL;
	const unsigned char *sec = ole_sector(o, o->dir[i / per]);
	return sec ? sec + 128 * (i % per) : NULL;
}

/* An entry's UTF-16 name as ASCII ('?' for the rest), at most 31 chars. */
static void ole_name(const unsigned char *e, char name[32])
{
	size_t chars = le16(e + 0x40) / 2;
	if (chars > 32)
		chars = 32;
	size_t i = 0;
	for (; i + 1 < chars && i < 31; i++) {
		uint16_t c = le16(e + 2 * i);
		name[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	name[i] = '\0';
}

enum {
	OLE_WORD = 1 << 0,
	OLE_BOOK = 1 << 1,
	OLE_PPT = 1 << 2,
	OLE_MSG = 1 << 3,
	OLE_ENCPKG = 1 << 4,
	OLE_PPT_ENC = 1 << 5,
};

static unsigned ole_name_bits(const char *name)
{
	if (strcmp(name, "WordDocument") == 0)
		return OLE_WORD;
	if (strcmp(name, "Workbook") == 0 || strcmp(name, "Book") == 0)
		return OLE_BOOK;
	if (strcmp(name, "PowerPoint Document") == 0)
		return OLE_PPT;
	if (strncmp(name, "__substg1.0_", 12) == 0 ||
	    strcmp(name, "__properties_version1.0") == 0)
		return OLE_MSG;
	if (strcmp(name, "EncryptedPackage") == 0)
		return OLE_ENCPKG;
	if (strcmp(name, "EncryptedSummary") == 0)
		return OLE_PPT_ENC;
	return 0;
}

/* The first sector of a stream big enough to live in regular sectors. */
static const unsigned char *ole_stream_head(const struct ole *o,
					    const unsigned char *e)
{
	uint32_t cutoff = le32(o->d + 0x38);
	if (le32(e + 0x78) < cutoff)
		return NULL; /* in the mini stream: not worth following */
	return ole_sector(o, le32(e + 0x74));
}

/* Legacy Word and Excel encryption, seen in the first sector of the main
 * stream: the FIB's fEncrypted bit, or a FILEPASS record after the BOF. */
static int ole_stream_encrypted(const struct ole *o, const unsigned char *e,
				unsigned bit)
{
	const unsigned char *h = ole_stream_head(o, e);
	if (h == NULL)
		return 0;
	if (bit == OLE_WORD)
		return le16(h) == 0xa5ec && (le16(h + 0x0a) & 0x0100) != 0;
	if (bit == OLE_BOOK && le16(h) == 0x0809) {
		size_t next = 4 + (size_t)le16(h + 2);
		size_t ssz = (size_t)1 << o->shift;
		return next + 2 <= ssz && le16(h + next) == 0x002f;
	}
	return 0;
}

/* Walks the root storage's children (a red-black tree of siblings). */
static unsigned ole_root_names(const struct ole *o, const unsigned char *root,
			       unsigned *enc_r)
{
	uint32_t stack[128];
	size_t sp = 0;
	unsigned bits = 0;
	uint32_t total = (uint32_t)(o->n_dir << (o->shift - 7));
	stack[sp++] = le32(root + 0x4c);
	for (uint32_t visits = 0; sp > 0 && visits <= total; visits++) {
		uint32_t id = stack[--sp];
		const unsigned char *e = ole_entry(o, id);
		if (e == NULL)
			continue;
		char name[32];
		ole_name(e, name);
		unsigned bit = ole_name_bits(name);
		bits |= bit;
		if ((bit == OLE_WORD || bit == OLE_BOOK) &&
		    ole_stream_encrypted(o, e, bit))
			*enc_r = 1;
		for (int k = 0; k < 2 && sp < sizeof stack / sizeof stack[0];
		     k++) {
			uint32_t sib = le32(e + (k ? 0x48 : 0x44));
			if (sib != OLE_NOSTREAM)
				stack[sp++] = sib;
		}
	}
	return bits;
}

static enum tt_id detect_ole2(const unsigned char *d, size_t n, unsigned *flags)
{
	static const unsigned char msi_clsid[16] = {
	    0x84, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46};
	struct ole o = {.d = d, .n = n, .hops = OLE_MAX_DIFAT_HOPS};
	if (n < 512)
		return TT_OLE2;
	o.shift = le16(d + 0x1e);
	if (o.shift != 9 && o.shift != 12)
		return TT_OLE2;
	/* the directory's sector chain, each sector once at most */
	uint32_t s = le32(d + 0x30);
	while (o.n_dir < OLE_MAX_DIR_SECTORS && ole_sector(&o, s) != NULL) {
		o.dir[o.n_dir++] = s;
		if (ole_next(&o, s, &s) != 0)
			break;
	}
	const unsigned char *root = ole_entry(&o, 0);
	if (root == NULL || root[0x42] != 5)
		return TT_OLE2;

	unsigned enc = 0;
	unsigned bits = ole_root_names(&o, root, &enc);
	if (bits == 0) {
		/* damaged tree: fall back to every entry's name */
		uint32_t total = (uint32_t)(o.n_dir << (o.shift - 7));
		for (uint32_t i = 1; i < total; i++) {
			const unsigned char *e = ole_entry(&o, i);
			char name[32];
			if (e == NULL)
				break;
			ole_name(e, name);
			bits |= ole_name_bits(name);
		}
	}
	if (bits & OLE_ENCPKG) {
		*flags |= VIGIL_PART_ENCRYPTED; /* encrypted OOXML */
		return TT_OLE2;
	}
	if (memcmp(root + 0x50, msi_clsid, sizeof msi_clsid) == 0)
		return TT_MSI;
	if (enc || (bits & (OLE_PPT | OLE_PPT_ENC)) == (OLE_PPT | OLE_PPT_ENC))
		*flags |= VIGIL_PART_ENCRYPTED;
	if (bits & OLE_MSG)
		return TT_MSG;
	if (bits & OLE_WORD)
		return TT_DOC;
	if (bits & OLE_BOOK)
		return TT_XLS;
	if (bits & OLE_PPT)
		return TT_PPT;
	return TT_OLE2;
}

/* ---------------------------------------------------------------------
 * ZIP and what is built on it
 */

/* OpenDocument: the first entry is a stored `mimetype`. */
static enum tt_id detect_odf(const unsigned char *d, size_t n)
{
	static const char prefix[] = "application/vnd.oasis.opendocument.";
	static const struct {
		const char *sub;
		enum tt_id id;
	} subs[] = {{"text", TT_ODT},
		    {"spreadsheet", TT_ODS},
		    {"presentation", TT_ODP}};
	const size_t plen = sizeof prefix - 1;
	if (n < 30 || le16(d + 8) != 0 || le16(d + 26) != 8 ||
	    !HAS_AT(d, n, 30, "mimetype"))
		return TT_UNKNOWN;
	size_t p = 30 + 8 + (size_t)le16(d + 28);
	if (!has_at(d, n, p, prefix, plen))
		return TT_UNKNOWN;
	size_t start = p + plen;
	size_t limit = n;
	size_t stored = le32(d + 18);
	if (stored > plen && stored - plen <= n - start)
		limit = start + stored - plen;
	size_t end = start;
	while (end < limit && end - start < 40 &&
	       ((d[end] >= 'a' && d[end] <= 'z') || d[end] == '-'))
		end++;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strlen(subs[i].sub) == end - start &&
		    memcmp(d + start, subs[i].sub, end - start) == 0)
			return subs[i].id;
	return TT_ODF;
}

enum {
	ZIP_CT = 1 << 0, /* [Content_Types].xml */
	ZIP_WORD = 1 << 1,
	ZIP_XL = 1 << 2,
	ZIP_PPT = 1 << 3,
	ZIP_VBA = 1 << 4, /* vbaProject.bin, or macroEnabled content types */
	ZIP_MANIFEST = 1 << 5,
	ZIP_CLASS = 1 << 6,
	ZIP_ANDROID = 1 << 7, /* AndroidManifest.xml or classes.dex */
};

/* What one ZIP walk learnt. */
struct zip_scan {
	unsigned bits;
	int encrypted;
	size_t ct_local; /* local header of [Content_Types].xml, or SIZE_MAX */
};

static int name_is(const unsigned char *name, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(name, s, len) == 0;
}

static int name_starts(const unsigned char *name, size_t len, const char *s)
{
	size_t m = strlen(s);
	return m <= len && memcmp(name, s, m) == 0;
}

static int name_ends_nocase(const unsigned char *name, size_t len,
			    const char *lower)
{
	size_t m = strlen(lower);
	if (m > len)
		return 0;
	for (size_t i = 0; i < m; i++)
		if (ascii_lower(name[len - m + i]) != (unsigned char)lower[i])
			return 0;
	return 1;
}

static unsigned zip_name_bits(const unsigned char *name, size_t len)
{
	unsigned vba =
	    name_ends_nocase(name, len, "/vbaproject.bin") ? ZIP_VBA : 0;
	if (name_is(name, len, "[Content_Types].xml"))
		return ZIP_CT;
	if (name_starts(name, len, "word/"))
		return ZIP_WORD | vba;
	if (name_starts(name, len, "xl/"))
		return ZIP_XL | vba;
	if (name_starts(name, len, "ppt/"))
		return ZIP_PPT | vba;
	if (name_is(name, len, "META-INF/MANIFEST.MF"))
		return ZIP_MANIFEST;
	if (name_is(name, len, "AndroidManifest.xml") ||
	    name_is(name, len, "classes.dex"))
		return ZIP_ANDROID;
	if (name_ends_nocase(name, len, ".class"))
		return ZIP_CLASS;
	return 0;
}

static void zip_entry(struct zip_scan *z, const unsigned char *name, size_t len,
		      unsigned gp_flags, size_t local)
{
	unsigned bits = zip_name_bits(name, len);
	if (gp_flags & 1)
		z->encrypted = 1;
	if ((bits & ZIP_CT) && z->ct_local == SIZE_MAX)
		z->ct_local = local;
	z->bits |= bits;
}

/* Finds the central directory through the end record (ZIP64 too). Data
 * before the archive shifts every offset: *shift_r says by how much. */
static int zip_find_central(const unsigned char *d, size_t n, size_t *start_r,
			    size_t *end_r, size_t *shift_r)
{
	if (n < 22)
		return -1;
	size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
	size_t span = n - 22 + 1 - lowest; /* the record starts in here */
	const unsigned char *hit;
	while ((hit = memrchr(d + lowest, 'P', span)) != NULL) {
		size_t e = (size_t)(hit - d);
		span = e - lowest;
		if (memcmp(d + e, "PK\5\6", 4) != 0)
			continue;
		uint64_t size = le32(d + e + 12), off = le32(d + e + 16);
		size_t end = e;
		if ((size == 0xffffffff || off == 0xffffffff) && e >= 20 &&
		    memcmp(d + e - 20, "PK\6\7", 4) == 0) {
			uint64_t z64 = le64(d + e - 20 + 8);
			if (z64 <= e - 20 && e - 20 - z64 >= 56 &&
			    memcmp(d + z64, "PK\6\6", 4) == 0) {
				size = le64(d + z64 + 40);
				off = le64(d + z64 + 48);
				end = (size_t)z64;
			}
		}
		if (size > end)
			continue;
		*start_r = end - (size_t)size;
		*end_r = end;
		*shift_r = off <= *start_r ? *start_r - (size_t)off : 0;
		return 0;
	}
	return -1;
}

static void zip_walk_central(const unsigned char *d, size_t n,
			     struct zip_scan *z)
{
	size_t p, end, shift;
	if (zip_find_central(d, n, &p, &end, &shift) != 0)
		return;
	for (unsigned i = 0; i < ZIP_MAX_ENTRIES && end - p >= 46 &&
			     memcmp(d + p, "PK\1\2", 4) == 0;
	     i++) {
		size_t nl = le16(d + p + 28), xl = le16(d + p + 30),
		       cl = le16(d + p + 32);
		if (nl > end - p - 46)
			break;
		zip_entry(z, d + p + 46, nl, le16(d + p + 8),
			  le32(d + p + 42) + shift);
		if (xl + cl > end - p - 46 - nl)
			break;
		p += 46 + nl + xl + cl;
	}
}

/* Local headers from the start, as far as their sizes lead: this is all a
 * cut-short ZIP has, and the flags there count as much as central ones. */
static void zip_walk_local(const unsigned char *d, size_t n, struct zip_scan *z)
{
	size_t p = HAS_AT(d, n, 0, "PK\7\x08") ? 4 : 0;
	for (unsigned i = 0; i < ZIP_MAX_ENTRIES && n - p >= 30 &&
			     memcmp(d + p, "PK\3\4", 4) == 0;
	     i++) {
		unsigned flags = le16(d + p + 6);
		size_t csize = le32(d + p + 18), nl = le16(d + p + 26),
		       xl = le16(d + p + 28);
		if (nl > n - p - 30)
			break;
		zip_entry(z, d + p + 30, nl, flags, p);
		if (((flags & 8) && csize == 0) || csize == 0xffffffff)
			break; /* the size is only known after the data */
		if (xl > n - p - 30 - nl || csize > n - p - 30 - nl - xl)
			break;
		p += 30 + nl + xl + csize;
		if (flags & 8) /* data descriptor, with or without signature */
			p += HAS_AT(d, n, p, "PK\7\x08") ? 16 : 12;
		if (p > n)
			break;
	}
}

/* Whether [Content_Types].xml, compressed, says macroEnabled: the one
 * place libarchive is needed, to inflate it. */
static int zip_ct_macro_inflate(const unsigned char *d, size_t n)
{
	unsigned char buf[ZIP_CT_MAX];
	size_t len = 0;
	struct archive *a = archive_read_new();
	if (a == NULL)
		return 0;
	archive_read_support_format_zip(a);
	if (archive_read_open_memory(a, d, n) == ARCHIVE_OK) {
		struct archive_entry *e;
		for (unsigned i = 0;
		     i < ZIP_MAX_ENTRIES &&
		     archive_read_next_header(a, &e) >= ARCHIVE_WARN;
		     i++) {
			const char *name = archive_entry_pathname(e);
			if (name == NULL ||
			    strcmp(name, "[Content_Types].xml") != 0)
				continue;
			while (len < sizeof buf) {
				la_ssize_t got = archive_read_data(
				    a, buf + len, sizeof buf - len);
				if (got <= 0)
					break;
				len += (size_t)got;
			}
			break;
		}
	}
	archive_read_free(a);
	return find_nocase(buf, len, "macroenabled");
}

static int zip_ct_macro(const unsigned char *d, size_t n, size_t local)
{
	if (local > n || n - local < 30 ||
	    memcmp(d + local, "PK\3\4", 4) != 0 || (le16(d + local + 6) & 1))
		return 0;
	size_t start =
	    local + 30 + (size_t)le16(d + local + 26) + le16(d + local + 28);
	if (start > n)
		return 0;
	if (le16(d + local + 8) != 0)
		return zip_ct_macro_inflate(d, n);
	size_t len = le32(d + local + 18);
	if (len == 0 || len > n - start)
		len = n - start;
	if (len > ZIP_CT_MAX)
		len = ZIP_CT_MAX;
	return find_nocase(d + start, len, "macroenabled");
}

/* Lists a ZIP's entries (central directory and local headers, each entry
 * name read in place) and tells the formats built on ZIP apart. */
static enum tt_id detect_zip(const unsigned char *d, size_t n, unsigned *flags)
{
	struct zip_scan z = {.ct_local = SIZE_MAX};
	zip_walk_central(d, n, &z);
	zip_walk_local(d, n, &z);
	if (z.encrypted)
		*flags |= VIGIL_PART_ENCRYPTED;

	enum tt_id odf = detect_odf(d, n);
	if (odf != TT_UNKNOWN)
		return odf;
	if ((z.bits & ZIP_CT) && (z.bits & (ZIP_WORD | ZIP_XL | ZIP_PPT))) {
		int macro =
		    (z.bits & ZIP_VBA) ||
		    (z.ct_local != SIZE_MAX && zip_ct_macro(d, n, z.ct_local));
		if (z.bits & ZIP_WORD)
			return macro ? TT_DOCM : TT_DOCX;
		if (z.bits & ZIP_XL)
			return macro ? TT_XLSM : TT_XLSX;
		return macro ? TT_PPTM : TT_PPTX;
	}
	if (z.bits & ZIP_ANDROID)
		return TT_APK;
	if (z.bits & (ZIP_MANIFEST | ZIP_CLASS))
		return TT_JAR;
	return TT_ZIP;
}

/* ---------------------------------------------------------------------
 * Other archives: encryption flags
 */

/* RAR 4: a main header with MHD_PASSWORD, or a file with LHD_PASSWORD. */
static int rar4_encrypted(const unsigned char *d, size_t n)
{
	size_t pos = 7;
	for (unsigned i = 0; i < RAR_MAX_BLOCKS && n - pos >= 7; i++) {
		const unsigned char *h = d + pos;
		unsigned type = h[2], flags = le16(h + 3);
		size_t next = (size_t)le16(h + 5);
		if (next < 7)
			break;
		if (type == 0x73 && (flags & 0x0080))
			return 1;
		if (type == 0x74 && (flags & 0x0004))
			return 1;
		if (type == 0x7b)
			break;
		if (flags & 0x8000) {
			if (n - pos < 11)
				break;
			next += le32(h + 7);
		}
		if (next > n - pos)
			break;
		pos += next;
	}
	return 0;
}

/* RAR 5 variable-length integer, read no further than `end`. */
static int rar5_vint(const unsigned char *d, size_t end, size_t *pos,
		     uint64_t *v_r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *pos < end; shift += 7) {
		unsigned char b = d[(*pos)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v_r = v;
			return 0;
		}
	}
	return -1;
}

/* Whether a RAR 5 header's extra area holds a file encryption record. */
static int rar5_extra_encrypted(const unsigned char *d, size_t p, size_t end)
{
	for (unsigned i = 0; i < 64 && p < end; i++) {
		uint64_t size, type;
		if (rar5_vint(d, end, &p, &size) != 0 || size == 0 ||
		    size > end - p)
			return 0;
		size_t rec_end = p + (size_t)size;
		if (rar5_vint(d, rec_end, &p, &type) != 0)
			return 0;
		if (type == 0x01)
			return 1;
		p = rec_end;
	}
	return 0;
}

/* RAR 5: an archive encryption header, or an encrypted file/service. */
static int rar5_encrypted(const unsigned char *d, size_t n)
{
	size_t pos = 8;
	for (unsigned i = 0; i < RAR_MAX_BLOCKS && n - pos > 4; i++) {
		size_t p = pos + 4; /* header CRC32 */
		uint64_t hsize, type, hflags, extra = 0, data = 0;
		if (rar5_vint(d, n, &p, &hsize) != 0 || hsize == 0 ||
		    hsize > n - p)
			break;
		size_t end = p + (size_t)hsize;
		if (rar5_vint(d, end, &p, &type) != 0 ||
		    rar5_vint(d, end, &p, &hflags) != 0 ||
		    ((hflags & 1) && rar5_vint(d, end, &p, &extra) != 0) ||
		    ((hflags & 2) && rar5_vint(d, end, &p, &data) != 0))
			break;
		if (type == 4)
			return 1;
		if ((type == 2 || type == 3) && extra > 0 && extra <= end - p &&
		    rar5_extra_encrypted(d, end - (size_t)extra, end))
			return 1;
		if (type == 5 || data > n - end)
			break;
		pos = end + (size_t)data;
	}
	return 0;
}

/* 7-Zip: the AES coder (06 F1 07 01) named in a plain or packed-header
 * description, which is where -mhe=on puts it. Data-only encryption sits
 * inside the LZMA-packed header and is not seen. */
static int sevenzip_encrypted(const unsigned char *d, size_t n)
{
	if (n < 32)
		return 0;
	uint64_t off = le64(d + 12), size = le64(d + 20);
	if (off >= n - 32)
		return 0;
	size_t start = 32 + (size_t)off;
	size_t len = n - start;
	if (size < len)
		len = (size_t)size;
	if (len > 65536)
		len = 65536;
	if (len == 0 || (d[start] != 0x17 && d[start] != 0x01))
		return 0;
	return memmem(d + start, len, "\x06\xf1\x07\x01", 4) != NULL;
}

/* ---------------------------------------------------------------------
 * Smaller formats
 */

/* An MPEG-1/2/2.5 Layer III frame header, and the next one when it is in
 * the data. */
static int mp3_frame(const unsigned char *d, size_t n)
{
	static const unsigned short rate1[16] = {0,   32,  40,	48,  56,  64,
						 80,  96,  112, 128, 160, 192,
						 224, 256, 320, 0};
	static const unsigned short rate2[16] = {
	    0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0};
	static const unsigned freq[4][3] = {{11025, 12000, 8000},
					    {0, 0, 0},
					    {22050, 24000, 16000},
					    {44100, 48000, 32000}};
	if (n < 4 || d[0] != 0xff || (d[1] & 0xe0) != 0xe0)
		return 0;
	unsigned ver = (d[1] >> 3) & 3, layer = (d[1] >> 1) & 3;
	unsigned br = d[2] >> 4, sr = (d[2] >> 2) & 3, pad = (d[2] >> 1) & 1;
	if (ver == 1 || layer != 1 || br == 0 || br == 15 || sr == 3)
		return 0;
	unsigned kbps = ver == 3 ? rate1[br] : rate2[br];
	size_t len =
	    (size_t)(ver == 3 ? 144 : 72) * kbps * 1000 / freq[ver][sr] + pad;
	if (len < 4 || len >= n - 1)
		return 1; /* the next frame is past the data */
	return d[len] == 0xff && (d[len + 1] & 0xfe) == (d[1] & 0xfe);
}

static int all_digits(const unsigned char *d, size_t n, size_t off, size_t len,
		      int base)
{
	if (off > n || len > n - off)
		return 0;
	for (size_t i = off; i < off + len; i++) {
		unsigned c = d[i];
		int ok = base == 8 ? (c >= '0' && c <= '7')
				   : ((c >= '0' && c <= '9') ||
				      (c >= 'a' && c <= 'f') ||
				      (c >= 'A' && c <= 'F'));
		if (!ok)
			return 0;
	}
	return 1;
}

/* Binary cpio: magic 070707 as a 16-bit word of either byte order, and a
 * name size that fits. */
static int cpio_binary(const unsigned char *d, size_t n, int big)
{
	if (n < 28)
		return 0;
	unsigned namesize = big ? be16(d + 20) : le16(d + 20);
	if (namesize == 0 || namesize > 4096)
		return 0;
	return 26 + (size_t)namesize <= n ? d[26 + namesize - 1] == 0 : 1;
}

/* A tar header without the ustar magic: a good checksum is enough. */
static int tar_checksum(const unsigned char *d, size_t n)
{
	if (n < 512 || d[0] == 0)
		return 0;
	const unsigned char *f = d + 148;
	size_t i = 0;
	while (i < 8 && f[i] == ' ')
		i++;
	if (i == 8 || f[i] < '0' || f[i] > '7')
		return 0;
	unsigned long want = 0;
	for (; i < 8 && f[i] >= '0' && f[i] <= '7'; i++)
		want = want * 8 + (f[i] - '0');
	if (i < 8 && f[i] != ' ' && f[i] != '\0')
		return 0;
	unsigned long sum = 8 * ' ';
	for (size_t k = 0; k < 512; k++)
		if (k < 148 || k >= 156)
			sum += d[k];
	return sum == want;
}

/* ---------------------------------------------------------------------
 * Magic numbers at fixed places: cheap, tried first.
 */

static enum tt_id detect_magic(const unsigned char *d, size_t n,
			       unsigned *flags)
{
	static const unsigned char lnk[20] = {
	    0x4c, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46};
	static const unsigned char onenote[16] = {
	    0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d,
	    0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96, 0xd3};

	switch (d[0]) {
	case 'M':
		if (HAS_AT(d, n, 0, "MZ"))
			return detect_mz(d, n);
		if (HAS_AT(d, n, 0, "MSCF\0\0\0\0"))
			return TT_CAB;
		if (HAS_AT(d, n, 0, "MM\0*") || HAS_AT(d, n, 0, "MM\0+"))
			return TT_TIFF;
		break;
	case 0x7f:
		if (HAS_AT(d, n, 0, "\177ELF"))
			return TT_ELF;
		break;
	case 0xfe:
	case 0xce:
	case 0xcf:
		if (HAS_AT(d, n, 0, "\xfe\xed\xfa\xce") ||
		    HAS_AT(d, n, 0, "\xfe\xed\xfa\xcf") ||
		    HAS_AT(d, n, 0, "\xce\xfa\xed\xfe") ||
		    HAS_AT(d, n, 0, "\xcf\xfa\xed\xfe"))
			return TT_MACHO;
		break;
	case 0xca:
		if (HAS_AT(d, n, 0, "\xca\xfe\xba\xbe"))
			return detect_cafebabe(d, n);
		if (HAS_AT(d, n, 0, "\xca\xfe\xba\xbf"))
			return TT_MACHO; /* fat, 64-bit offsets */
		break;
	case 0x4c:
		if (has_at(d, n, 0, lnk, sizeof lnk))
			return TT_LNK;
		break;
	case 0xd0:
		if (HAS_AT(d, n, 0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
			return detect_ole2(d, n, flags);
		break;
	case 'P':
		if (HAS_AT(d, n, 0, "PK\3\4") || HAS_AT(d, n, 0, "PK\5\6") ||
		    HAS_AT(d, n, 0, "PK\7\x08PK\3\4"))
			return detect_zip(d, n, flags);
		break;
	case '{':
		if (HAS_AT(d, n, 0, "{\\rt"))
			return TT_RTF; /* Word takes any "{\rt" */
		break;
	case 0xe4:
		if (has_at(d, n, 0, onenote, sizeof onenote))
			return TT_ONE;
		break;
	case 'R':
		if (HAS_AT(d, n, 0, "Rar!\x1a\x07\x01\x00")) {
			if (rar5_encrypted(d, n))
				*flags |= VIGIL_PART_ENCRYPTED;
			return TT_RAR5;
		}
		if (HAS_AT(d, n, 0, "Rar!\x1a\x07\x00")) {
			if (rar4_encrypted(d, n))
				*flags |= VIGIL_PART_ENCRYPTED;
			return TT_RAR;
		}
		if (HAS_AT(d, n, 0, "RIFF") && HAS_AT(d, n, 8, "WAVE"))
			return TT_WAV;
		if (HAS_AT(d, n, 0, "RIFF") && HAS_AT(d, n, 8, "AVI "))
			return TT_AVI;
		break;
	case '7':
		if (HAS_AT(d, n, 0, "7z\xbc\xaf\x27\x1c")) {
			if (sevenzip_encrypted(d, n))
				*flags |= VIGIL_PART_ENCRYPTED;
			return TT_7Z;
		}
		break;
	case 0x1f:
		if (HAS_AT(d, n, 0, "\x1f\x8b\x08"))
			return TT_GZIP;
		break;
	case 'B':
		if (HAS_AT(d, n, 0, "BZh") && n > 3 && d[3] >= '1' &&
		    d[3] <= '9')
			return TT_BZIP2;
		if (HAS_AT(d, n, 0, "BM") && n >= 18) {
			uint32_t dib = le32(d + 14);
			if (dib == 12 || dib == 16 || dib == 40 || dib == 52 ||
			    dib == 56 || dib == 64 || dib == 108 || dib == 124)
				return TT_BMP;
		}
		break;
	case 0xfd:
		if (HAS_AT(d, n, 0, "\3757zXZ\0"))
			return TT_XZ;
		break;
	case 0x60:
		if (n >= 6 && d[1] == 0xea && le16(d + 2) > 0 &&
		    le16(d + 2) <= 2600 && d[4] <= le16(d + 2))
			return TT_ARJ;
		break;
	case '0':
		if ((HAS_AT(d, n, 0, "070701") || HAS_AT(d, n, 0, "070702")) &&
		    all_digits(d, n, 6, 20, 16))
			return TT_CPIO;
		if (HAS_AT(d, n, 0, "070707") && all_digits(d, n, 6, 20, 8))
			return TT_CPIO;
		break;
	case 0xc7:
		if (n > 1 && d[1] == 0x71 && cpio_binary(d, n, 0))
			return TT_CPIO;
		break;
	case 0x71:
		if (n > 1 && d[1] == 0xc7 && cpio_binary(d, n, 1))
			return TT_CPIO;
		break;
	case 0xff:
		if (HAS_AT(d, n, 0, "\xff\xd8\xff"))
			return TT_JPEG;
		if (mp3_frame(d, n))
			return TT_MP3;
		break;
	case 0x89:
		if (HAS_AT(d, n, 0, "\x89PNG\r\n\x1a\n"))
			return TT_PNG;
		break;
	case 'G':
		if (HAS_AT(d, n, 0, "GIF87a") || HAS_AT(d, n, 0, "GIF89a"))
			return TT_GIF;
		break;
	case 'I':
		if (HAS_AT(d, n, 0, "II*\0") || HAS_AT(d, n, 0, "II+\0"))
			return TT_TIFF;
		if (HAS_AT(d, n, 0, "ID3") && n > 4 && d[3] >= 2 && d[3] <= 4 &&
		    d[4] != 0xff)
			return TT_MP3;
		if (HAS_AT(d, n, 0, "ITSF"))
			return TT_CHM;
		break;
	case 'O':
		if (HAS_AT(d, n, 0, "OggS\0"))
			return TT_OGG;
		break;
	case 'S':
		if (HAS_AT(d, n, 0, "SZDD\x88\xf0\x27\x33"))
			return TT_SZDD;
		break;
	case 0x78:
		if (HAS_AT(d, n, 0, "\x78\x9f\x3e\x22"))
			return TT_TNEF;
		break;
	case '(':
		if (HAS_AT(d, n, 0, "(This file must be converted with BinHex"))
			return TT_BINHEX;
		break;
	default:
		break;
	}

	/* magic numbers further in */
	if (n >= 12 && HAS_AT(d, n, 8, "\x19\x04\x00\x10") &&
	    (le32(d + 4) == 0x1000006d || le32(d + 4) == 0x10003a12))
		return TT_SIS;
	if (n >= 12 && HAS_AT(d, n, 4, "ftyp") && be32(d) >= 8)
		return TT_MP4;
	if (n >= 7 && d[2] == '-' && d[3] == 'l' &&
	    (d[4] == 'h' || d[4] == 'z') && d[6] == '-')
		return TT_LZH;
	if (HAS_AT(d, n, 257, "ustar\0") || HAS_AT(d, n, 257, "ustar "))
		return TT_TAR;
	if (HAS_AT(d, n, 0x8001, "CD001") || HAS_AT(d, n, 0x8801, "CD001") ||
	    HAS_AT(d, n, 0x9001, "CD001") || HAS_AT(d, n, 0x8001, "BEA01"))
		return TT_ISO;
	return TT_UNKNOWN;
}

/* %PDF- in the first 1024 bytes; an /Encrypt entry anywhere. */
static enum tt_id detect_pdf(const unsigned char *d, size_t n, unsigned *flags)
{
	if (memmem(d, n < PDF_HEAD ? n : PDF_HEAD, "%PDF-", 5) == NULL)
		return TT_UNKNOWN;
	const unsigned char *p = d, *end = d + n;
	while ((p = memmem(p, (size_t)(end - p), "/Encrypt", 8)) != NULL) {
		p += 8;
		/* not /EncryptMetadata: the name must end here */
		if (p == end ||
		    !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
			*flags |= VIGIL_PART_ENCRYPTED;
			break;
		}
	}
	return TT_PDF;
}

/* ---------------------------------------------------------------------
 * Text, markup and scripts
 */

/* Tallies one byte >= 0x80 of would-be UTF-8. */
static void utf8_byte(unsigned c, unsigned *follow, size_t *good, size_t *bad)
{
	if (*follow && c < 0xc0) {
		*good += --*follow == 0;
		return;
	}
	*bad += *follow != 0; /* a sequence cut short */
	if (c >= 0xc2 && c <= 0xdf) {
		*follow = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		*follow = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		*follow = 3;
	} else {
		*follow = 0;
		(*bad)++;
	}
}

/* Copies the start of text-looking data into `s` as lowercase ASCII, one
 * '\n' first, CR as LF, line indentation dropped (so "\ndim " finds an
 * indented Dim); bytes beyond ASCII become 0x80. Reads UTF-8 and 8-bit
 * text, and UTF-16 with a byte-order mark. Returns the length, or 0 when
 * the data does not look like text: a NUL, more than 1/64 control bytes,
 * more than 1/8 bytes that are not UTF-8, or not one character that is
 * surely text. */
static size_t text_sample(const unsigned char *d, size_t n, char *s, size_t cap)
{
	size_t i = 0, step = 1;
	int be = 0;
	if (HAS_AT(d, n, 0, "\xef\xbb\xbf")) {
		i = 3;
	} else if (HAS_AT(d, n, 0, "\xff\xfe") || HAS_AT(d, n, 0, "\xfe\xff")) {
		i = 2;
		step = 2;
		be = d[0] == 0xfe;
	}
	size_t limit = n - i < TEXT_SAMPLE ? n : i + TEXT_SAMPLE;
	size_t len = 0, chars = 0, ctrl = 0, bad = 0, good = 0;
	unsigned follow = 0; /* UTF-8 continuation bytes still due */
	s[len++] = '\n';
	for (; i + step <= limit && len + 1 < cap; i += step) {
		unsigned c = step == 1 ? d[i]
			     : be      ? (unsigned)be16(d + i)
				       : (unsigned)le16(d + i);
		chars++;
		if (c > 0x20 && c < 0x7f && !follow) { /* the common case */
			s[len++] = (char)ascii_lower((unsigned char)c);
			good++;
			continue;
		}
		if (c == 0)
			return 0;
		if (c >= 0x80) {
			if (step == 2)
				good++;
			else
				utf8_byte(c, &follow, &good, &bad);
			s[len++] = (char)0x80;
			continue;
		}
		if (follow) {
			bad++;
			follow = 0;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' &&
		    c != '\f' && c != '\v' && c != 0x1b && c != 0x1a)
			ctrl++;
		else
			good++;
		if (c == '\r')
			c = '\n';
		if ((c == ' ' || c == '\t') && s[len - 1] == '\n')
			continue;
		s[len++] = (char)ascii_lower((unsigned char)c);
	}
	if (good == 0 || ctrl * 64 > chars || bad * 8 > chars)
		return 0;
	s[len] = '\0';
	return len;
}

/* Script languages, in the order that breaks ties; then two kinds of
 * markup found by the same scan. */
enum tt_lang {
	LANG_BAT,
	LANG_VBS,
	LANG_JS,
	LANG_PS1,
	LANG_SCRIPTS, /* the languages above */
	LANG_HTA = LANG_SCRIPTS,
	LANG_HTML, /* an HTML tag anywhere */
	LANG_COUNT
};

static const enum tt_id lang_type[LANG_SCRIPTS] = {TT_BAT, TT_VBS, TT_JS,
						   TT_PS1};

/* Distinctive tokens, lowercase; "\n" means at the start of a line. A
 * language needs 4 points and the one with the most wins (ties in enum
 * order). What prose may hold ("Set", "Dim", "var" at the start of a line,
 * the name of a harmless cmdlet) weighs 1, so plain text does not add up
 * to a script. */
static const struct tt_token {
	const char *s;
	enum tt_lang lang;
	unsigned weight;
} script_tokens[] = {
    {"\n@echo off", LANG_BAT, 6},
    {"%~dp0", LANG_BAT, 4},
    {"goto :eof", LANG_BAT, 4},
    {"\nsetlocal", LANG_BAT, 4},
    {"%comspec%", LANG_BAT, 4},
    {"%errorlevel%", LANG_BAT, 4},
    {"\nexit /b", LANG_BAT, 4},
    {"\nset /a ", LANG_BAT, 4},
    {"\nset /p ", LANG_BAT, 4},
    {"\n::", LANG_BAT, 2},
    {"cmd /c", LANG_BAT, 2},
    {"cmd.exe /c", LANG_BAT, 2},
    {"\nrem ", LANG_BAT, 1},
    {"\ngoto ", LANG_BAT, 1},

    {"on error resume next", LANG_VBS, 6},
    {"createobject(", LANG_VBS, 4},
    {"end sub", LANG_VBS, 4},
    {"end function", LANG_VBS, 4},
    {"end if", LANG_VBS, 4},
    {"executeglobal", LANG_VBS, 4},
    {"wscript.", LANG_VBS, 2},
    {"msgbox", LANG_VBS, 2},
    {"execute(", LANG_VBS, 2},
    {"&chr(", LANG_VBS, 2},
    {"\ndim ", LANG_VBS, 1},
    {"\nset ", LANG_VBS, 1},
    {"\nsub ", LANG_VBS, 1},

    {"activexobject", LANG_JS, 6},
    {"string.fromcharcode(", LANG_JS, 4},
    {"document.write(", LANG_JS, 4},
    {".charcodeat(", LANG_JS, 4},
    {"console.log(", LANG_JS, 4},
    {"window.location", LANG_JS, 4},
    {"wscript.createobject(", LANG_JS, 3}, /* both say it: syntax decides */
    {"wscript.", LANG_JS, 2},
    {";\n", LANG_JS, 1}, /* VBScript has no semicolons */
    {"function(", LANG_JS, 2},
    {"eval(", LANG_JS, 2},
    {"unescape(", LANG_JS, 2},
    {"=function(", LANG_JS, 2},
    {"})(", LANG_JS, 2},
    {"parseint(", LANG_JS, 2},
    {".push(", LANG_JS, 2},
    {"\nvar ", LANG_JS, 1},
    {"\nlet ", LANG_JS, 1},
    {"\nconst ", LANG_JS, 1},

    {"invoke-expression", LANG_PS1, 6},
    {"invoke-webrequest", LANG_PS1, 6},
    {"invoke-restmethod", LANG_PS1, 6},
    {"-executionpolicy", LANG_PS1, 4},
    {"-encodedcommand", LANG_PS1, 4},
    {"new-object ", LANG_PS1, 4},
    {"$env:", LANG_PS1, 4},
    {"]::", LANG_PS1, 2},
    {"$_", LANG_PS1, 2},
    {"$null", LANG_PS1, 2},
    {"where-object", LANG_PS1, 2},
    {"foreach-object", LANG_PS1, 2},
    {"\nparam(", LANG_PS1, 2},
    {"downloadstring(", LANG_PS1, 2},
    {"frombase64string(", LANG_PS1, 2},
    {"-windowstyle hidden", LANG_PS1, 4},
    {"-w hidden", LANG_PS1, 4},
    {"-bxor", LANG_PS1, 4},
    {"|iex", LANG_PS1, 4},
    {"| iex", LANG_PS1, 4},
    {"-nop ", LANG_PS1, 2},
    {"[char]", LANG_PS1, 2},
    {"-join", LANG_PS1, 2},
    {"write-host", LANG_PS1, 1},
    {"start-process", LANG_PS1, 1},
    {"get-childitem", LANG_PS1, 1},
    {"set-itemproperty", LANG_PS1, 1},
    {" -eq ", LANG_PS1, 1},
    {" -ne ", LANG_PS1, 1},
    {"$true", LANG_PS1, 1},
    {"$false", LANG_PS1, 1},

    {"<hta:application", LANG_HTA, 1},
    {"<!doctype html", LANG_HTML, 1},
    {"<html", LANG_HTML, 1},
    {"<body", LANG_HTML, 1},
    {"<iframe", LANG_HTML, 1},
    {"<script", LANG_HTML, 1},
};

#define N_TOKENS (sizeof script_tokens / sizeof script_tokens[0])
_Static_assert(N_TOKENS < 255, "token chains are indexed by a byte");

/* Adds up the tokens found in the sample in one pass: a bitmap of the
 * tokens' first two bytes filters positions, and only the tokens chained
 * under that first byte are compared. */
static void script_scores(const char *s, size_t len, unsigned *score)
{
	unsigned char pairs[65536 / 8] = {0};
	unsigned char head[256], next[N_TOKENS], found[N_TOKENS] = {0};
	size_t tlen[N_TOKENS];
	memset(head, 0xff, sizeof head);
	for (size_t k = N_TOKENS; k-- > 0;) {
		const unsigned char *t =
		    (const unsigned char *)script_tokens[k].s;
		unsigned pair = (unsigned)t[0] << 8 | t[1];
		pairs[pair / 8] |= (unsigned char)(1u << (pair % 8));
		tlen[k] = strlen(script_tokens[k].s);
		next[k] = head[t[0]];
		head[t[0]] = (unsigned char)k;
	}
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned c = (unsigned char)s[i];
		unsigned pair = c << 8 | (unsigned char)s[i + 1];
		if (!(pairs[pair / 8] & (1u << (pair % 8))))
			continue;
		for (unsigned k = head[c]; k != 0xff; k = next[k]) {
			const char *t = script_tokens[k].s;
			if (found[k] || t[1] != s[i + 1] || tlen[k] > len - i ||
			    memcmp(s + i, t, tlen[k]) != 0)
				continue;
			found[k] = 1;
			score[script_tokens[k].lang] += script_tokens[k].weight;
		}
	}
}

/* A document that opens with an HTML tag. */
static int leading_html_tag(const char *s, size_t len)
{
	static const char tags[] = "|!doctype html|html|head|body|script|"
				   "iframe|a|div|meta|title|table|p|span|form|"
				   "img|style|link|br|center|font|b|i|u|h1|h2|"
				   "h3|frameset|object|embed|";
	size_t i = 0;
	while (i < len && (s[i] == '\n' || s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i >= len || s[i] != '<')
		return 0;
	i++;
	size_t end = i;
	while (end < len &&
	       ((s[end] >= 'a' && s[end] <= 'z') ||
		(s[end] >= '0' && s[end] <= '9') || s[end] == '!' ||
		(s[end] == ' ' && end - i == 8 && s[i] == '!'))) /* doctype */
		end++;
	if (end >= len || end == i || end - i > 16 ||
	    (s[end] != '>' && s[end] != ' ' && s[end] != '\n' && s[end] != '/'))
		return 0;
	char want[20] = "|";
	memcpy(want + 1, s + i, end - i);
	want[end - i + 1] = '|';
	return memmem(tags, sizeof tags - 1, want, end - i + 2) != NULL;
}

static enum tt_id detect_text(const unsigned char *d, size_t n)
{
	char s[TEXT_SAMPLE + 2];
	size_t len = text_sample(d, n, s, sizeof s);
	if (len == 0)
		return TT_UNKNOWN;
	if (leading_html_tag(s, len))
		return memmem(s, len, "<hta:application", 16) ? TT_HTA
							      : TT_HTML;
	unsigned score[LANG_COUNT] = {0};
	script_scores(s, len, score);
	if (score[LANG_HTA])
		return TT_HTA;
	/* a batch file calling PowerShell is still a batch file */
	if (strncmp(s, "\n@echo", 6) == 0 && score[LANG_BAT] >= 4)
		return TT_BAT;
	unsigned best = 0;
	for (unsigned l = 1; l < LANG_SCRIPTS; l++)
		if (score[l] > score[best])
			best = l;
	if (score[best] >= 4)
		return lang_type[best];
	return score[LANG_HTML] ? TT_HTML : TT_TEXT;
}

/* ---------------------------------------------------------------------
 * The typer
 */

static enum tt_id detect(const unsigned char *d, size_t n, unsigned *flags)
{
	if (d == NULL || n == 0)
		return TT_UNKNOWN;
	enum tt_id id = detect_magic(d, n, flags);
	if (id == TT_UNKNOWN)
		id = detect_pdf(d, n, flags);
	if (id == TT_UNKNOWN && tar_checksum(d, n))
		id = TT_TAR;
	if (id == TT_UNKNOWN)
		id = detect_text(d, n);
	return id;
}

static void tt_typer(void *ctx, const unsigned char *data, size_t size,
		     const char **type_r, const char **category_r,
		     unsigned *flags_r)
{
	(void)ctx;
	enum tt_id id = detect(data, size, flags_r);
	if (id == TT_UNKNOWN)
		return;
	*type_r = tt_types[id].name;
	*category_r = tt_types[id].category;
}

/* ---------------------------------------------------------------------
 * The condition
 */

static int type_by_name(const char *name)
{
	for (int i = 0; i < TT_COUNT; i++)
		if (strcmp(tt_types[i].name, name) == 0)
			return i;
	return -1;
}

static int category_by_name(const char *name)
{
	for (size_t i = 0; i < TT_NCATEGORIES; i++)
		if (strcmp(tt_categories[i], name) == 0)
			return (int)i;
	return -1;
}

/* Marks one name of `types`: a family or a type. */
static int select_type(struct tt_cond *c, const char *name)
{
	for (size_t f = 0; f < sizeof tt_families / sizeof tt_families[0];
	     f++) {
		if (strcmp(tt_families[f].name, name) != 0)
			continue;
		for (size_t k = 0; k < 8 && tt_families[f].members[k]; k++)
			c->type[tt_families[f].members[k]] = 1;
		return 0;
	}
	int t = type_by_name(name);
	if (t < 0)
		return -1;
	c->type[t] = 1;
	return 0;
}

static int select_category(struct tt_cond *c, const char *name)
{
	int k = category_by_name(name);
	if (k < 0)
		return -1;
	c->category[k] = 1;
	return 0;
}

#define CATEGORY_HINT                                                          \
	"use executable, document, compressed, script, image, media or other"
#define TYPE_HINT                                                              \
	"use a type such as exe, docm or zip, or a family: pe, ooxml, odf, "   \
	"rar, office_macro"

/* Reads one list setting of strings; returns how many names it held, or
 * -1 with *error_r set. */
static int read_names(vigil_host *host, const config_setting_t *group,
		      const char *key, struct tt_cond *c,
		      int (*select)(struct tt_cond *, const char *),
		      const char *what, const char *hint, const char **error_r)
{
	const config_setting_t *list = config_setting_get_member(group, key);
	if (list == NULL)
		return 0;
	if (!config_setting_is_array(list) && !config_setting_is_list(list)) {
		*error_r = vigil_setting_error(
		    host, list, "'%s' must be an array of strings", key);
		return -1;
	}
	int count = config_setting_length(list);
	for (int i = 0; i < count; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(list, (unsigned)i);
		const char *name = config_setting_type(e) == CONFIG_TYPE_STRING
				       ? config_setting_get_string(e)
				       : NULL;
		if (name == NULL) {
			*error_r = vigil_setting_error(
			    host, e, "'%s' must be an array of strings", key);
			return -1;
		}
		if (select(c, name) != 0) {
			*error_r = vigil_setting_error(
			    host, e, "unknown %s '%s' in '%s' (%s)", what, name,
			    key, hint);
			return -1;
		}
	}
	return count;
}

static int tt_compile(void *ctx, const config_setting_t *setting,
		      vigil_userdata *cond_r, const char **error_r)
{
	static const char *const allowed[] = {"categories", "types", NULL};
	struct tt_state *st = ctx;
	if (vigil_check_keys(st->host, setting, allowed, error_r) != 0)
		return -1;
	struct tt_cond *c = calloc(1, sizeof *c);
	if (c == NULL) {
		*error_r = "truetype: out of memory";
		return -1;
	}
	int ncat =
	    read_names(st->host, setting, "categories", c, select_category,
		       "category", CATEGORY_HINT, error_r);
	int ntypes = 0;
	if (ncat >= 0)
		ntypes = read_names(st->host, setting, "types", c, select_type,
				    "type", TYPE_HINT, error_r);
	if (ncat >= 0 && ntypes >= 0 && ncat + ntypes == 0) {
		*error_r = vigil_setting_error(
		    st->host, setting,
		    "truetype needs a non-empty 'categories' or 'types'");
		ntypes = -1;
	}
	if (ncat < 0 || ntypes < 0) {
		free(c);
		return -1;
	}
	cond_r->data = c;
	cond_r->free = free;
	return 0;
}

static int part_matches(const struct tt_cond *c, const vigil_part *p)
{
	if (p->category != NULL) {
		int k = category_by_name(p->category);
		if (k >= 0 && c->category[k])
			return 1;
	}
	if (p->true_type != NULL) {
		int t = type_by_name(p->true_type);
		if (t >= 0 && c->type[t])
			return 1;
	}
	return 0;
}

static vigil_result tt_eval(void *cond, vigil_message *msg, vigil_eval *ev)
{
	const struct tt_cond *c = cond;
	size_t n = 0;
	const vigil_part *parts = vigil_message_parts(msg, &n);
	for (size_t i = 0; parts != NULL && i < n; i++) {
		const vigil_part *p = &parts[i];
		if (!part_matches(c, p))
			continue;
		vigil_eval_part(ev, p);
		vigil_eval_detail(ev, "%s: %s (%s)", p->path ? p->path : "",
				  p->true_type ? p->true_type : "unknown",
				  p->category ? p->category : "other");
		return VIGIL_MATCH;
	}
	return VIGIL_NO_MATCH;
}

static const vigil_condition_ops tt_condition = {
    .type = "truetype",
    .compile = tt_compile,
    .eval = tt_eval,
};

/* ---------------------------------------------------------------------
 * The plugin
 */

static int tt_init(vigil_host *host, const config_setting_t *cfg,
		   void **state_r, const char **error_r)
{
	static const char *const allowed[] = {NULL};
	if (cfg != NULL && vigil_check_keys(host, cfg, allowed, error_r) != 0)
		return -1;
	struct tt_state *st = calloc(1, sizeof *st);
	if (st == NULL) {
		*error_r = "truetype: out of memory";
		return -1;
	}
	st->host = host;
	if (vigil_register_typer(host, tt_typer, st, error_r) != 0 ||
	    vigil_register_condition(host, &tt_condition, st, error_r) != 0) {
		free(st);
		return -1;
	}
	*state_r = st;
	return 0;
}

static void tt_fini(void *state)
{
	free(state);
}

VIGIL_PLUGIN("truetype", "1.0", .init = tt_init, .fini = tt_fini);
