/* pdf.yar - PDF actions that run something when the document opens. */
rule HEUR_PDFLAUNCH_A
{
    strings:
        $pdf = "%PDF-"
        $launch = "/Launch"
    condition:
        $pdf at 0 and $launch
}

rule HEUR_PDFJS_B
{
    strings:
        $pdf = "%PDF-"
        $js1 = "/JavaScript"
        $js2 = "/JS"
    condition:
        $pdf at 0 and ($js1 or $js2)
}
