<?xml version="1.0" encoding="UTF-8"?>
<!-- siegel report view: renders a verification report (docs/report.xsd), with or
     without the extend-report <Suitability> extension, as one HTML page with the
     overview of seed 004 (number of signatures, verification time, signer, issuer,
     serial number, validity, signing time, and the results: unchanged, valid,
     qualified, chain, algorithms), colour-coded. XSLT 1.0, no extensions. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="html" encoding="UTF-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:template name="flag">
    <xsl:param name="ok"/>
    <xsl:param name="yes"/>
    <xsl:param name="no"/>
    <xsl:param name="na" select="'n/a'"/>
    <xsl:choose>
      <xsl:when test="$ok = '1'"><td class="ok"><xsl:value-of select="$yes"/></td></xsl:when>
      <xsl:when test="$ok = '0'"><td class="bad"><xsl:value-of select="$no"/></td></xsl:when>
      <xsl:otherwise><td class="na"><xsl:value-of select="$na"/></td></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="UTF-8"/>
        <title>Signature verification report – <xsl:value-of select="Report/FileName"/></title>
        <style>
          body { font-family: sans-serif; margin: 2em; color: #222; }
          h1 { font-size: 1.4em; }
          table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; }
          th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
          th { background: #eee; }
          .ok { background: #c8f0c8; }
          .bad { background: #f6c3c3; }
          .warn { background: #fbe7b0; }
          .na { background: #e8e8e8; color: #666; }
          .summary { font-size: 1.2em; padding: 0.5em; display: inline-block; }
          .mono { font-family: monospace; }
        </style>
      </head>
      <body>
        <h1>Signature verification report</h1>
        <xsl:apply-templates select="Report"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="Report">
    <table>
      <tr><th>File</th><td class="mono"><xsl:value-of select="FileName"/></td></tr>
      <xsl:if test="DataFileName">
        <tr><th>Signed data file</th><td class="mono"><xsl:value-of select="DataFileName"/></td></tr>
      </xsl:if>
      <tr><th>File hash (<xsl:value-of select="FileHash/@Alg"/>)</th>
          <td class="mono"><xsl:value-of select="FileHash"/></td></tr>
      <tr><th>Number of signatures</th><td id="count"><xsl:value-of select="count(Signatures/Signature)"/></td></tr>
      <tr><th>Verification time</th><td><xsl:value-of select="Signatures/@VerifyDate"/></td></tr>
      <tr><th>Result</th>
        <td>
          <xsl:attribute name="class">
            <xsl:choose><xsl:when test="Signatures/@Error = '0'">ok summary</xsl:when>
              <xsl:otherwise>bad summary</xsl:otherwise></xsl:choose>
          </xsl:attribute>
          <xsl:value-of select="Signatures/@Error"/><xsl:text> </xsl:text>
          <xsl:value-of select="Signatures/@ErrorStr"/>
          <xsl:if test="Signatures/Message">: <xsl:value-of select="Signatures/Message"/></xsl:if>
        </td></tr>
    </table>
    <xsl:for-each select="Signatures/Signature">
      <h2>Signature <xsl:value-of select="position()"/>
        <xsl:if test="PDF/FieldName != ''"> (<xsl:value-of select="PDF/FieldName"/>)</xsl:if></h2>
      <table class="signature">
        <tr><th>Signer</th><td class="signer"><xsl:value-of select="Certificate/Content/Subject"/></td></tr>
        <tr><th>Issuer</th><td><xsl:value-of select="Certificate/Content/Issuer"/></td></tr>
        <tr><th>Serial number</th><td class="mono"><xsl:value-of select="Certificate/Content/SerialNumber"/></td></tr>
        <tr><th>Certificate valid</th><td>from <xsl:value-of select="Certificate/Content/NotBefore"/>
          to <xsl:value-of select="Certificate/Content/NotAfter"/></td></tr>
        <tr><th>Signing time</th><td><xsl:value-of select="SignDate"/>
          (<xsl:value-of select="SignDateSource"/>)</td></tr>
        <tr><th>Result</th>
          <td>
            <xsl:attribute name="class"><xsl:choose><xsl:when test="Error = '0'">ok</xsl:when>
              <xsl:otherwise>bad</xsl:otherwise></xsl:choose></xsl:attribute>
            <xsl:value-of select="Error"/><xsl:text> </xsl:text><xsl:value-of select="ErrorStr"/>
            <xsl:if test="Message != ''"><br/><xsl:value-of select="Message"/></xsl:if>
          </td></tr>
        <tr><th>Document unchanged</th>
          <xsl:call-template name="flag">
            <xsl:with-param name="ok">
              <xsl:choose>
                <xsl:when test="PDF/HashMatched = '1' and PDF/HasChanged = '0'">1</xsl:when>
                <xsl:when test="PDF">0</xsl:when>
                <xsl:when test="Error = '107'">0</xsl:when>
                <xsl:when test="Error = '0' or Error = '102' or Error = '103' or Error = '104' or Error = '105'">1</xsl:when>
              </xsl:choose>
            </xsl:with-param>
            <xsl:with-param name="yes">unchanged<xsl:if test="PDF/ChangeClass != 'none'"> (later updates: <xsl:value-of select="PDF/ChangeClass"/>)</xsl:if></xsl:with-param>
            <xsl:with-param name="no">changed<xsl:if test="PDF/ChangeClass"> (<xsl:value-of select="PDF/ChangeClass"/>: <xsl:value-of select="PDF/ChangeClass/@Detail"/>)</xsl:if></xsl:with-param>
          </xsl:call-template></tr>
        <tr><th>Signature valid</th>
          <xsl:call-template name="flag">
            <xsl:with-param name="ok"><xsl:choose><xsl:when test="Error = '0'">1</xsl:when><xsl:otherwise>0</xsl:otherwise></xsl:choose></xsl:with-param>
            <xsl:with-param name="yes">valid</xsl:with-param>
            <xsl:with-param name="no">not valid</xsl:with-param>
          </xsl:call-template></tr>
        <tr><th>Qualified</th>
          <xsl:call-template name="flag">
            <xsl:with-param name="ok" select="Certificate/Evaluation/IsQualified"/>
            <xsl:with-param name="yes">qualified</xsl:with-param>
            <xsl:with-param name="no">not qualified</xsl:with-param>
          </xsl:call-template></tr>
        <tr><th>Certificate chain</th>
          <xsl:call-template name="flag">
            <xsl:with-param name="ok" select="Certificate/Content/Chain/Validated"/>
            <xsl:with-param name="yes">validated<xsl:if test="Certificate/Content/Chain/IsSelfSigned = '1'"> (self-signed, in the store)</xsl:if></xsl:with-param>
            <xsl:with-param name="no">not validated<xsl:if test="Certificate/Content/Chain/IsSelfSigned = '1'"> (self-signed)</xsl:if></xsl:with-param>
          </xsl:call-template></tr>
        <tr><th>OCSP</th>
          <td>
            <xsl:attribute name="class"><xsl:choose>
              <xsl:when test="OCSP/@Status = 'good'">ok</xsl:when>
              <xsl:when test="OCSP/@Status = 'skipped'">na</xsl:when>
              <xsl:otherwise>bad</xsl:otherwise></xsl:choose></xsl:attribute>
            <xsl:value-of select="OCSP/@Status"/>
            <xsl:if test="OCSP != ''">: <xsl:value-of select="OCSP"/></xsl:if>
          </td></tr>
        <tr><th>Algorithms</th>
          <td>
            <xsl:attribute name="class"><xsl:choose>
              <xsl:when test="not(Suitability)">na</xsl:when>
              <xsl:when test="Suitability/SuitableAtSignDate = '1' and Suitability/SuitableNow = '1'">ok</xsl:when>
              <xsl:when test="Suitability/SuitableAtSignDate = '1'">warn</xsl:when>
              <xsl:otherwise>bad</xsl:otherwise></xsl:choose></xsl:attribute>
            <xsl:value-of select="HashAlgorithmSignature"/>, <xsl:value-of select="SignatureAlgorithm"/>
            (<xsl:value-of select="SignatureAlgorithm/@KeyAlgorithm"/><xsl:text> </xsl:text><xsl:value-of select="SignatureAlgorithm/@KeySize"/> bit)
            <xsl:choose>
              <xsl:when test="not(Suitability)"><br/>suitability not checked (run siegel extend-report)</xsl:when>
              <xsl:otherwise>
                <br/>suitable at signing time: <b><xsl:value-of select="Suitability/SuitableAtSignDate"/></b>,
                now: <b><xsl:value-of select="Suitability/SuitableNow"/></b>
                <ul>
                  <xsl:for-each select="Suitability/Algorithm">
                    <li><xsl:value-of select="@Name"/>
                      <xsl:if test="@Value"> (<xsl:value-of select="@Parameter"/>=<xsl:value-of select="@Value"/>)</xsl:if>:
                      <xsl:value-of select="Sources"/></li>
                  </xsl:for-each>
                </ul>
                <xsl:if test="Suitability/Warning"><i><xsl:value-of select="Suitability/Warning"/></i></xsl:if>
              </xsl:otherwise>
            </xsl:choose>
          </td></tr>
        <xsl:if test="PDF">
          <tr><th>PDF</th><td>SubFilter <xsl:value-of select="PDF/SubFilter"/>,
            ByteRange [<xsl:value-of select="PDF/ByteRange"/>],
            <xsl:choose><xsl:when test="PDF/CoversWholeFile = '1'">covers the whole file</xsl:when>
              <xsl:otherwise>covers a revision</xsl:otherwise></xsl:choose>
            <xsl:if test="PDF/Reason != ''">; reason: <xsl:value-of select="PDF/Reason"/></xsl:if>
            <xsl:if test="PDF/Location != ''">; location: <xsl:value-of select="PDF/Location"/></xsl:if>
          </td></tr>
        </xsl:if>
      </table>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
