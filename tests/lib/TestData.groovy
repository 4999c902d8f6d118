import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.zip.CRC32
import java.util.zip.GZIPInputStream

/**
 * Small inputs for the nf-test tests, written at test time and byte-for-byte the same on every run and
 * machine (no randomness, no timestamps, no compression library whose output could change): FASTA files,
 * a bgzipped FASTA, counts tables, samplesheets, BED files and damaged copies of the bundled BAMs.
 *
 * Used from the `when` blocks (before Nextflow starts), e.g. TestData.fasta("${launchDir}/inputs/ref.fa", ...).
 */
class TestData {

    // The 28-byte empty BGZF block that ends every BGZF file (SAM/BAM/VCF specification, section 4.1.2).
    static final byte[] BGZF_EOF = [0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00,
        0x42, 0x43, 0x02, 0x00, 0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] as byte[]
    // Uncompressed bytes per BGZF block (bgzip uses the same 0xff00).
    static final int BGZF_BLOCK_DATA = 0xff00

    /** A pseudo-random A/C/G/T sequence of the given length: the same for the same seed, everywhere. */
    static String sequence(int length, long seed) {
        def bases = 'ACGT'
        def text = new StringBuilder(length)
        long state = seed
        for (int i = 0; i < length; i++) {
            state = (state * 6364136223846793005L + 1442695040888963407L)  // Knuth's MMIX LCG, mod 2^64
            text.append(bases.charAt((int) ((state >>> 33) & 3)))
        }
        return text.toString()
    }

    /** FASTA text of [name: length] contigs, 60 bases a line. */
    static String fastaText(Map<String, Integer> contigs) {
        def text = new StringBuilder()
        contigs.eachWithIndex { name, length, i ->
            text.append(">${name}\n")
            def bases = sequence(length, 17 + i)
            for (int start = 0; start < length; start += 60) {
                text.append(bases, start, Math.min(length, start + 60)).append('\n')
            }
        }
        return text.toString()
    }

    static Path fasta(String where, Map<String, Integer> contigs) {
        return write(where, fastaText(contigs).getBytes('US-ASCII'))
    }

    /** The same FASTA, bgzipped (BGZF blocks of 0xff00 bytes and the EOF block), as samtools faidx reads it. */
    static Path bgzippedFasta(String where, Map<String, Integer> contigs) {
        return write(where, bgzf(fastaText(contigs).getBytes('US-ASCII')))
    }

    /**
     * BGZF: gzip members of at most 64 KiB with the BC extra field giving each block's size, then the EOF
     * block. The data go into "stored" deflate blocks (no compression), written here byte by byte, so the
     * file, and the .gzi that samtools makes of it, do not depend on any zlib version.
     */
    static byte[] bgzf(byte[] data) {
        def out = new ByteArrayOutputStream()
        for (int start = 0; start < data.length; start += BGZF_BLOCK_DATA) {
            int length = Math.min(BGZF_BLOCK_DATA, data.length - start)
            def crc = new CRC32()
            crc.update(data, start, length)
            int blockSize = 18 + 5 + length + 8  // header with BC field, stored block header, data, CRC32 + ISIZE
            out.write([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 6, 0, 0x42, 0x43, 2, 0] as byte[])
            littleEndian(out, blockSize - 1, 2)
            out.write(1)  // BFINAL = 1, BTYPE = 00 (stored)
            littleEndian(out, length, 2)
            littleEndian(out, ~length & 0xffff, 2)
            out.write(data, start, length)
            littleEndian(out, crc.value, 4)
            littleEndian(out, length, 4)
        }
        out.write(BGZF_EOF)
        return out.toByteArray()
    }

    private static void littleEndian(ByteArrayOutputStream out, long value, int bytes) {
        for (int i = 0; i < bytes; i++) {
            out.write((int) ((value >>> (8 * i)) & 0xff))
        }
    }

    /**
     * A failed task's stderr and exit status, from Nextflow's error report (the run's stdout, as a list of
     * lines): [status: 2, stderr: ['[ERROR] ...']]. The report indents them under 'Command exit status:'
     * and 'Command error:'.
     */
    static Map taskError(List<String> stdout) {
        def section = { String title ->
            int start = stdout.findIndexOf { it.trim() == title }
            if (start < 0) {
                return null
            }
            def lines = stdout.drop(start + 1).takeWhile { it.trim() }.collect { it.trim() }
            return lines == ['(empty)'] ? [] : lines
        }
        def status = section('Command exit status:')
        return [status: status ? status[0] as int : null, stderr: section('Command error:')]
    }

    /** The entries of a .gzi index: [compressed offset, uncompressed offset] of each block after the first. */
    static List<List<Long>> gziEntries(Object path) {
        def buffer = java.nio.ByteBuffer.wrap(Files.readAllBytes(Paths.get(path.toString())))
            .order(java.nio.ByteOrder.LITTLE_ENDIAN)
        long count = buffer.getLong()
        return (0..<count).collect { [buffer.getLong(), buffer.getLong()] }
    }

    /** A <sample>.counts.tsv table (as REDUCE_COUNTS writes it) of [region, length, count] rows. */
    static Path countsTable(String where, List<List> rows) {
        return text(where, "region\tlength\tcount\n" + rows.collect { it.join('\t') + '\n' }.join(''))
    }

    /** A samplesheet CSV (header sample,bam) of [sample: bam path]. */
    static Path samplesheet(String where, Map<String, Object> samples) {
        return text(where, 'sample,bam\n' + samples.collect { sample, bam -> "${sample},${bam}\n" }.join(''))
    }

    /** A copy of a file without its last `cut` bytes (a truncated download). */
    static Path truncatedCopy(Object source, String where, int cut) {
        def data = Files.readAllBytes(Paths.get(source.toString()))
        return write(where, Arrays.copyOf(data, data.length - cut))
    }

    /** The first bytes of a gzip/BGZF file, decompressed (an index's magic: 'CSI\1', 'BAI\1'). */
    static String gunzippedMagic(Object path, int count = 4) {
        new GZIPInputStream(Files.newInputStream(Paths.get(path.toString()))).withCloseable { input ->
            return new String(input.readNBytes(count), 'ISO-8859-1')
        }
    }

    /** The first bytes of a file (a BAI index is not compressed). */
    static String magic(Object path, int count = 4) {
        Files.newInputStream(Paths.get(path.toString())).withCloseable { input ->
            return new String(input.readNBytes(count), 'ISO-8859-1')
        }
    }

    /**
     * The files under a folder, relative to it and sorted; a run's timestamp in a name
     * (execution_report_2025-01-31_12-00-00.html) becomes <timestamp>, so that the list can be snapshotted.
     */
    static List<String> fileNames(Object folder) {
        def root = Paths.get(folder.toString())
        if (!Files.isDirectory(root)) {
            return []
        }
        return Files.walk(root).withCloseable { paths ->
            paths.filter { Files.isRegularFile(it) }.toList()
                .collect { root.relativize(it).toString().replaceAll(/\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}/, '<timestamp>') }
                .sort()
        }
    }

    // What a tool version report says of the python3 that ran a task: the virtualenv's interpreter, whichever
    // python3 made it (3.11.7 from pyenv, 3.11.2 from Debian, ...), so no snapshot may hold it. The tools the
    // pipeline pins (samtools, pysam, MultiQC, Nextflow) stay in the snapshots as they are.
    static final String LOCAL_PYTHON = '<local python3>'

    /**
     * A versions file's text with the python3 version masked: a versions.yml or software_versions.yml
     * ("    python: 3.11.7") or MultiQC's multiqc_software_versions.txt (a table with a python column). Only
     * a version-like value is masked, so a missing or broken python line still changes the snapshot.
     */
    static String maskedVersions(Object path) {
        def text = new String(Files.readAllBytes(Paths.get(path.toString())), 'UTF-8')
        if (!path.toString().endsWith('.txt')) {
            return text.replaceAll(/(?m)^(\s*python: )\d+\.\d+\.\d+\S*$/, '$1' + LOCAL_PYTHON)
        }
        def lines = text.split('\n', -1) as List
        def column = lines[0].split('\t', -1).findIndexOf { it == 'python' }
        if (column < 0) {
            return text
        }
        return lines.collect { line ->
            def fields = line.split('\t', -1)
            if (fields.size() > column && fields[column] ==~ /\d+\.\d+\.\d+\S*/) {
                fields[column] = LOCAL_PYTHON
            }
            fields.join('\t')
        }.join('\n')
    }

    /**
     * A process's outputs (nf-test's process.out) for a snapshot: every versions.yml becomes its text with the
     * python3 version masked (maskedVersions); every other value is kept (files as nf-test snapshots them).
     */
    static Object maskedOutputs(Object outputs) {
        if (outputs instanceof Map) {
            // In the order nf-test snapshots them: channels sorted by name, a meta map as written.
            def copy = outputs instanceof SortedMap ? new TreeMap() : new LinkedHashMap()
            outputs.each { key, value -> copy[key] = maskedOutputs(value) }
            return copy
        }
        if (outputs instanceof List) {
            return outputs.collect { maskedOutputs(it) }
        }
        if (outputs instanceof String && outputs.endsWith('/versions.yml') && Files.isRegularFile(Paths.get(outputs))) {
            return maskedVersions(outputs)
        }
        return outputs
    }

    static Path text(String where, String content) {
        return write(where, content.getBytes('UTF-8'))
    }

    static Path write(String where, byte[] data) {
        def path = Paths.get(where)
        Files.createDirectories(path.parent)
        Files.write(path, data)
        return path
    }

    /**
     * A work unit file (as plan_units.py writes it) of [sample, region_id, contig, start, end, whole, mode,
     * open_end] rows.
     */
    static Path unitTable(String where, List<List> rows) {
        return table(where, ['sample', 'region_id', 'contig', 'start', 'end', 'whole', 'mode', 'open_end'], rows)
    }

    /** A <sample>.regions.tsv table (as plan_units.py writes it) of [region_id, name, contig, start, end, length, items] rows. */
    static Path regionsTable(String where, List<List> rows) {
        return table(where, ['region_id', 'name', 'contig', 'start', 'end', 'length', 'items'], rows)
    }

    /**
     * A unit result (bin/task_files.py's format, as count_unit.py writes it) of [sample, region_id, contig, start,
     * end, mode, count, status, message] rows, each written as an item line.
     */
    static Path resultTable(String where, List<List> rows) {
        return table(where, ['kind', 'sample', 'region_id', 'contig', 'start', 'end', 'mode', 'count', 'status', 'message'],
            rows.collect { row -> ['item'] + row })
    }

    /** The rows of a TSV file after its header, each split on tabs (empty trailing fields kept). */
    static List<List<String>> tsvRows(Object path) {
        return Files.readAllLines(Paths.get(path.toString()), java.nio.charset.StandardCharsets.UTF_8)
            .drop(1).collect { it.split('\t', -1) as List }
    }

    static Path table(String where, List<String> header, List<List> rows) {
        return text(where, ([header] + rows).collect { it.join('\t') + '\n' }.join(''))
    }
}
