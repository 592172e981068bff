package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Document is a community text (guidelines, code of conduct) in markdown. Every change is
// kept as a DocumentVersion; the document row points at the current one.
type Document struct {
	ID             int64
	CommunityID    int64
	Title          string
	CurrentVersion int
	DeletedAt      *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// DocumentVersion is one immutable revision of a document.
type DocumentVersion struct {
	ID         int64
	DocumentID int64
	Version    int
	Title      string
	Body       string
	// HTML is Body rendered and sanitised (RenderMarkdown) when the version was stored.
	HTML      string
	AuthorID  *int64
	CreatedAt time.Time
}

// DocumentWithBody is a document and its current text, as written and as rendered.
type DocumentWithBody struct {
	Document
	Body string
	HTML string
}

// MaxDocumentBytes bounds a document's markdown.
const MaxDocumentBytes = 200_000

// CheckDocument validates a document's title and body, rendering the body as it would be
// stored, so a text too complex to display is refused when it is proposed.
func CheckDocument(title, body string) error {
	_, err := renderDocument(title, body)
	return err
}

// renderDocument validates a document's title and body and returns the body's HTML.
func renderDocument(title, body string) (string, error) {
	v := &ValidationError{}
	CheckName(v, "title", title, 120)
	var html string
	if strings.TrimSpace(body) == "" {
		v.Add("body", "must not be empty")
	} else if len(body) > MaxDocumentBytes {
		v.Add("body", fmt.Sprintf("must be at most %d bytes", MaxDocumentBytes))
	} else if h, err := RenderMarkdown(body); err != nil {
		v.Add("body", strings.TrimSuffix(err.Error(), ": "+ErrInvalid.Error()))
	} else {
		html = h
	}
	return html, v.OrNil()
}

// CreateDocument adds a document with its first version.
func (s *Store) CreateDocument(ctx context.Context, communityID int64, title, body string, author *int64) (*Document, error) {
	title = strings.TrimSpace(title)
	html, err := renderDocument(title, body)
	if err != nil {
		return nil, err
	}
	d := &Document{CommunityID: communityID, Title: title, CurrentVersion: 1}
	err = s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(d).Error; err != nil {
			if isDuplicate(err) {
				return Invalid("title", "a document with this title already exists")
			}
			return fmt.Errorf("create document: %w", err)
		}
		return tx.q(ctx).Create(&DocumentVersion{DocumentID: d.ID, Version: 1, Title: title, Body: body, HTML: html, AuthorID: author}).Error
	})
	return d, err
}

// UpdateDocument stores a new version of a document.
func (s *Store) UpdateDocument(ctx context.Context, communityID, docID int64, title, body string, author *int64) error {
	title = strings.TrimSpace(title)
	html, err := renderDocument(title, body)
	if err != nil {
		return err
	}
	return s.Tx(ctx, func(tx *Store) error {
		d, err := tx.DocumentByID(ctx, communityID, docID)
		if err != nil {
			return err
		}
		next := d.CurrentVersion + 1
		if err := tx.q(ctx).Create(&DocumentVersion{DocumentID: d.ID, Version: next, Title: title, Body: body, HTML: html, AuthorID: author}).Error; err != nil {
			return fmt.Errorf("add version: %w", err)
		}
		err = tx.q(ctx).Model(&Document{}).Where("id = ?", d.ID).
			Updates(map[string]any{"title": title, "current_version": next, "updated_at": time.Now().UTC()}).Error
		if isDuplicate(err) {
			return Invalid("title", "a document with this title already exists")
		}
		return err
	})
}

// SetDocumentDeleted removes a document from view (deleted=true) or brings it back.
func (s *Store) SetDocumentDeleted(ctx context.Context, communityID, docID int64, deleted bool) error {
	var at *time.Time
	if deleted {
		now := time.Now().UTC()
		at = &now
	}
	res := s.q(ctx).Model(&Document{}).Where("id = ? AND community_id = ?", docID, communityID).Update("deleted_at", at)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("document: %w", ErrNotFound)
	}
	return nil
}

// DocumentByID finds a live document of a community.
func (s *Store) DocumentByID(ctx context.Context, communityID, docID int64) (*Document, error) {
	var d Document
	if err := s.q(ctx).Where("community_id = ? AND id = ? AND deleted_at IS NULL", communityID, docID).First(&d).Error; err != nil {
		return nil, notFound(err, "document")
	}
	return &d, nil
}

// Documents lists a community's live documents with their current text, by title, in one query.
func (s *Store) Documents(ctx context.Context, communityID int64) ([]DocumentWithBody, error) {
	var ds []DocumentWithBody
	err := s.q(ctx).Table("documents").Select("documents.*, document_versions.body, document_versions.html").
		Joins("JOIN document_versions ON document_versions.document_id = documents.id AND document_versions.version = documents.current_version").
		Where("documents.community_id = ? AND documents.deleted_at IS NULL", communityID).
		Order("documents.title").Scan(&ds).Error
	return ds, err
}

// DocumentVersions lists every version of a community's document, newest first.
func (s *Store) DocumentVersions(ctx context.Context, communityID, docID int64) ([]DocumentVersion, error) {
	var vs []DocumentVersion
	err := s.q(ctx).Joins("JOIN documents ON documents.id = document_versions.document_id").
		Where("documents.community_id = ? AND documents.id = ?", communityID, docID).
		Order("document_versions.version DESC").Find(&vs).Error
	if err == nil && len(vs) == 0 {
		return nil, fmt.Errorf("document: %w", ErrNotFound)
	}
	return vs, err
}

// backfillDocumentHTML renders the versions stored before versions kept their HTML
// (migration 0009_document_html), in batches. A text too complex to render is kept as its
// escaped source.
func backfillDocumentHTML(tx *gorm.DB) error {
	var last int64
	for {
		var vs []DocumentVersion
		if err := tx.Where("id > ? AND html = ''", last).Order("id").Limit(200).Find(&vs).Error; err != nil {
			return fmt.Errorf("read document versions: %w", err)
		}
		if len(vs) == 0 {
			return nil
		}
		for _, v := range vs {
			html, err := RenderMarkdown(v.Body)
			if err != nil {
				html = markdownFallback(v.Body)
			}
			if err := tx.Model(&DocumentVersion{}).Where("id = ?", v.ID).Update("html", html).Error; err != nil {
				return fmt.Errorf("store document version %d html: %w", v.ID, err)
			}
			last = v.ID
		}
	}
}
